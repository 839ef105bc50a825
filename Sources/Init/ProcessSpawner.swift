import CSystemShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// posix_spawn, wrapped once for the two kinds of children relay-init starts: the command
/// (supervised, see `Supervisor`) and a set-up tool (run and waited for, see `run`).
///
/// posix_spawn rather than fork: after fork in a multithreaded process only async-signal-safe
/// calls are allowed until exec, which Swift code cannot promise. posix_spawn does the
/// child-side work (process group, signal reset, descriptor closing) in libc.
public enum ProcessSpawner {
    struct Attributes {
        /// Put the child in a new process group of its own (pgid = its pid).
        var newProcessGroup = false
        /// Make the child's process group the foreground group of the terminal on stdin.
        var takeTerminal = false
        /// Signals whose disposition is reset to the default in the child.
        var defaultSignals: [CInt] = []
        /// Descriptors ≥ 3 the child keeps; every other one is closed. nil keeps all.
        var keepDescriptors: Set<CInt>? = nil
        /// Send the child's stdout to our stderr (a tool's chatter is log, not output).
        var stdoutToStderr = false
    }

    /// Runs a tool to completion: stdout to our stderr, signals at their defaults, our
    /// descriptors kept. `environment` is `NAME=value` strings. Returns how it ended, or the
    /// errno when it could not start.
    public static func run(_ executable: String, arguments: [String], environment: [String]) -> Result<ChildOutcome, Errno> {
        var attributes = Attributes()
        attributes.stdoutToStderr = true
        attributes.defaultSignals = Supervisor.resetInChild
        return Self.spawn(executable: executable, argv: [executable] + arguments, environment: environment, attributes: attributes)
            .flatMap { pid in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 {
                    guard errno == EINTR else { return .failure(Errno(errno)) }
                }
                return .success(ChildOutcome(waitStatus: status))
            }
    }

    /// Starts `executable` with `argv` and `environment` (`NAME=value`). The child starts
    /// with an empty signal mask whatever ours is. Returns the pid or the errno.
    static func spawn(executable: String, argv: [String], environment: [String], attributes: Attributes) -> Result<pid_t, Errno> {
        var spawnAttributes = posix_spawnattr_t()
        posix_spawnattr_init(&spawnAttributes)
        defer { posix_spawnattr_destroy(&spawnAttributes) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }

        // Our mask blocks the supervised signals (see Supervisor.takeOver); the child must not inherit it.
        var flags = CInt(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&spawnAttributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in attributes.defaultSignals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&spawnAttributes, &defaults)
        if attributes.newProcessGroup {
            flags |= CInt(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&spawnAttributes, 0)
        }
        posix_spawnattr_setflags(&spawnAttributes, Int16(flags))

        // The child's side of tcsetpgrp (tini's isolate_child): done before exec, so the
        // command never runs in the background of its own terminal. Where libc lacks the
        // action, the parent does it right after the spawn instead.
        var terminalFromParent = false
        if attributes.takeTerminal {
            terminalFromParent = relay_spawn_add_tcsetpgrp(&actions, STDIN_FILENO) != 0
        }
        if let keep = attributes.keepDescriptors {
            Self.addCloseActions(&actions, keeping: keep)
        }
        if attributes.stdoutToStderr {
            posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO)
        }

        var pid = pid_t()
        let result = Self.withCStringArray(argv) { argv in
            Self.withCStringArray(environment) { environment in
                posix_spawn(&pid, executable, &actions, &spawnAttributes, argv, environment)
            }
        }
        guard result == 0 else { return .failure(Errno(result)) }
        if terminalFromParent {
            // SIGTTOU is ignored by the supervisor, so this works from the background too.
            tcsetpgrp(STDIN_FILENO, pid)
        }
        return .success(pid)
    }

    /// Closes, in the child, every descriptor ≥ 3 not in `keep`: NIO's sockets and epoll
    /// descriptor are not close-on-exec, and a command holding the relay's listening socket
    /// would keep the port half-alive after relay-init exits.
    private static func addCloseActions(_ actions: inout posix_spawn_file_actions_t, keeping keep: Set<CInt>) {
        let highestKept = keep.filter { $0 >= 3 }.max() ?? 2
        // Closing a descriptor that is not open is not an error for posix_spawn, so the gaps
        // below the highest kept descriptor are listed whether open or not: no race with
        // descriptors opened meanwhile by other threads.
        if highestKept >= 3 {
            for fd in 3...highestKept where !keep.contains(fd) {
                posix_spawn_file_actions_addclose(&actions, fd)
            }
        }
        if relay_spawn_add_closefrom(&actions, highestKept + 1) != 0 {
            // No closefrom action in this libc: close what is open now (a descriptor opened
            // between this listing and the spawn would leak; acceptable as a fallback).
            for fd in DescriptorSnapshot.current().descriptors where fd > highestKept {
                posix_spawn_file_actions_addclose(&actions, fd)
            }
        }
    }

    /// NUL-terminated `char *[]` for the duration of `body`.
    private static func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }
}
