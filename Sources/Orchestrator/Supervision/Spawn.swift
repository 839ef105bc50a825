import CSystemShims

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child ended.
public enum ChildOutcome: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Decodes a `waitpid` status (the W* macros are not visible from Swift).
    init(waitStatus status: Int32) {
        let signal = status & 0x7F
        self = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }

    /// The shell's convention, which relay-init exits with: the code, or 128 + the signal.
    public var exitCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}

/// posix_spawn, wrapped once for the two kinds of children relay-init starts: the command
/// (supervised, see `Supervisor`) and a trust-store tool (run and waited for).
///
/// posix_spawn rather than fork: after fork in a multithreaded process only async-signal-safe
/// calls are allowed until exec, which Swift code cannot promise. posix_spawn does the
/// child-side work (process group, signal reset, descriptor closing) in libc.
enum Spawn {
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
            // SIGTTOU is ignored by relay-init, so this works from the background too.
            tcsetpgrp(STDIN_FILENO, pid)
        }
        return .success(pid)
    }

    /// Runs a tool to completion with our environment: stdout to stderr, signals at their defaults.
    static func runAndWait(_ executable: String, arguments: [String]) -> ToolOutcome {
        var attributes = Attributes()
        attributes.stdoutToStderr = true
        attributes.defaultSignals = Supervisor.touchedSignals
        // Our environment, but never the token.
        let environment = ProxyEnvironment.childEnvironment(inherited: ProcessEnvironment.current(), adding: [])
        switch Self.spawn(executable: executable, argv: [executable] + arguments, environment: environment, attributes: attributes) {
        case .failure(let error):
            return .couldNotStart(error.code)
        case .success(let pid):
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 {
                guard errno == EINTR else { return .couldNotStart(errno) }
            }
            switch ChildOutcome(waitStatus: status) {
            case .exited(let code): return .exited(code)
            case .signaled(let signal): return .signaled(signal)
            }
        }
    }

    enum ToolOutcome: Equatable {
        case exited(Int32)
        case signaled(Int32)
        case couldNotStart(Int32)
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

/// An errno value from a call that returns it instead of setting `errno`.
struct Errno: Error, Equatable, CustomStringConvertible {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { String(cString: strerror(self.code)) }
}

/// The descriptors open in this process, read from /proc/self/fd.
struct DescriptorSnapshot: Sendable {
    var descriptors: Set<CInt>

    static func current() -> DescriptorSnapshot {
        guard let directory = opendir("/proc/self/fd") else {
            // No /proc: probe the usual range instead.
            return DescriptorSnapshot(descriptors: Set((0..<1024).filter { fcntl($0, F_GETFD) >= 0 }))
        }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var descriptors: Set<CInt> = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if let fd = CInt(name), fd != own { descriptors.insert(fd) }
        }
        return DescriptorSnapshot(descriptors: descriptors)
    }
}
