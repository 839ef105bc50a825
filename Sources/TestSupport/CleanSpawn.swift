#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `posix_spawn` with the hygiene a test harness for an init needs: a clean start for the
/// child (the orchestrator's own spawning is another matter, in another module).
///
/// Not Foundation's `Process`: on Linux it spawns with the calling thread's
/// signal mask (and Swift concurrency / Dispatch threads block almost every
/// signal, so a child would shrug off SIGTERM), and it detects exit through a
/// socket every descendant inherits, so an orphaned grandchild delays it.
/// Here the child starts with an empty mask and default dispositions, in its
/// own process group, with only fds 0–2 open, and exit is seen by `waitpid`.
enum CleanSpawn {
    enum Failure: Error {
        case notFound
        case failed(errno: Int32)
    }

    /// Starts `executable` with `stdin` (nil: /dev/null), `stdout` and `stderr`
    /// as fds 0, 1, 2. The caller still owns (and closes) the given fds.
    static func start(
        executable: String,
        arguments: [String],
        environment: [String: String],
        currentDirectory: String?,
        stdin: Int32?,
        stdout: Int32,
        stderr: Int32
    ) throws(Failure) -> pid_t {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        if let currentDirectory {
            #if canImport(Darwin)
            posix_spawn_file_actions_addchdir_np(&actions, currentDirectory)
            #else
            guard let addChdir = GNUExtensions.addChdir else { throw .failed(errno: ENOSYS) }
            _ = addChdir(&actions, currentDirectory)
            #endif
        }

        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP
        #if canImport(Darwin)
        flags |= POSIX_SPAWN_CLOEXEC_DEFAULT
        #else
        // Sockets and files of the test process (other servers, other
        // children's pipes) must not leak into the child and keep them open.
        _ = GNUExtensions.addCloseFrom?(&actions, 3)
        #endif
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        sigdelset(&allSignals, SIGKILL)
        sigdelset(&allSignals, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = CStringArray([executable] + arguments)
        let envp = CStringArray(environment.map { "\($0.key)=\($0.value)" })
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv.pointers, envp.pointers)
        switch result {
        case 0: return pid
        case ENOENT: throw .notFound
        default: throw .failed(errno: result)
        }
    }

    /// Blocks until `pid` has exited, leaving it a zombie (not reaped), so
    /// its pid stays reserved until ``reap(_:)``.
    static func waitUntilExited(_ pid: pid_t) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1, errno == EINTR {}
    }

    /// Reaps the exited `pid` and returns its status as a shell reports it:
    /// the exit code, or 128 + N for signal N (-1 if it was reaped elsewhere).
    static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return -1 }
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}

#if !canImport(Darwin)
/// glibc's `_np` spawn actions (2.29/2.34), which Swift's Glibc module does
/// not import because it is built without `_GNU_SOURCE`; looked up at run time.
private enum GNUExtensions {
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    static let addChdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")
    static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")

    private static func symbol<Function>(_ name: String) -> Function? {
        guard let address = dlsym(dlopen(nil, RTLD_NOW), name) else { return nil }
        return unsafeBitCast(address, to: Function.self)
    }
}
#endif

/// A NULL-terminated `char *[]` for exec-style calls, freed on deinit.
private final class CStringArray {
    let pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }

    deinit {
        for pointer in pointers {
            free(pointer)
        }
    }
}
