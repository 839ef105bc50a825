import CSystemShims
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A command that could not be started: 127 when not found, 126 when not executable.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        case notFound(searchedPath: String?)
        case notExecutable(path: String, detail: String)
    }

    public var command: String
    public var reason: Reason

    public var exitCode: Int32 {
        if case .notFound = self.reason { return 127 }
        return 126
    }

    public var description: String {
        switch self.reason {
        case .notFound(let searched?):
            return "cannot run '\(self.command)': command not found in PATH (\(searched))"
        case .notFound(nil):
            return "cannot run '\(self.command)': no such file"
        case .notExecutable(let path, let detail):
            return "cannot run '\(self.command)': \(path) is not executable (\(detail))"
        }
    }
}

/// relay-init's init duties, in the shape of tini's main loop (krallin/tini, src/tini.c):
/// block the signals, spawn the child in its own process group with the terminal, then loop
/// on sigtimedwait: forward what arrives, reap every exited descendant, until the child is gone.
///
/// The loop runs on the main thread, which relay-init dedicates to it: the relay runs on
/// NIO's threads and the async work on the concurrency pool, none of which take signals.
public struct Supervisor: Sendable {
    /// Forwarded to the child as they arrive.
    public static let forwardedSignals: [CInt] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT]
    /// What stops a sidecar.
    public static let stopSignals: [CInt] = [SIGTERM, SIGINT]
    /// What stops relay-init before it has started the command.
    public static let stopRequestSignals: [CInt] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]
    /// Every signal whose handling relay-init (or a library in it: SIGPIPE) may change; a child
    /// gets them back at their defaults, as a shell would start it.
    static let touchedSignals: [CInt] = Self.forwardedSignals + [SIGCHLD, SIGTTIN, SIGTTOU, SIGPIPE, relay_sigrtmin()]

    /// The descriptors relay-init inherited: the only ones (besides 0–2) a child inherits too.
    let inheritedDescriptors: Set<CInt>

    /// Takes the signals over. Call it first, before anything starts a thread.
    ///
    /// The collected signals are blocked, not handled: blocked signals stay pending until
    /// sigtimedwait takes them, with no handler racing the loop — and, as PID 1, a blocked
    /// signal is queued where one with the default action would be dropped by the kernel.
    /// A signal mask is per thread and inherited by new threads, so blocking it here, before
    /// NIO or the concurrency runtime start theirs, keeps every thread from taking them.
    public static func takeOver() -> Supervisor {
        var collected = Self.collectedSignalSet()
        // Also the signal set-up uses to wake the main thread (see InterruptibleSetup).
        sigaddset(&collected, relay_sigrtmin())
        pthread_sigmask(SIG_BLOCK, &collected, nil)
        // The child gets the terminal's foreground; relay-init, then in the background,
        // must not be stopped when it writes a log line (tini does the same).
        signal(SIGTTIN, SIG_IGN)
        signal(SIGTTOU, SIG_IGN)
        return Supervisor(inheritedDescriptors: DescriptorSnapshot.current().descriptors)
    }

    private static func collectedSignalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in Self.forwardedSignals + [SIGCHLD] { sigaddset(&set, signal) }
        return set
    }

    /// `PR_SET_DUMPABLE 0` keeps the token out of core dumps and /proc/PID/mem of other
    /// users; `PR_SET_CHILD_SUBREAPER` makes orphaned descendants ours to reap when not PID 1.
    public func harden(logger: Logger) {
        if relay_prctl(PR_SET_DUMPABLE, 0) != 0 {
            logger.warning("prctl(PR_SET_DUMPABLE, 0) failed: \(Errno(errno)); a core dump could hold the token")
        }
        if getpid() != 1, relay_prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 {
            logger.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: \(Errno(errno)); orphaned grandchildren will not be reaped by relay-init")
        }
    }

    /// Spawns the command in its own process group, with the terminal when relay-init has it.
    /// `PATH` is searched here rather than by posix_spawnp, to tell "not found" (127) from
    /// "not executable" (126) with the path in the message.
    public func spawn(_ command: [String], environment: [String], searchPath: String?) throws(SpawnError) -> pid_t {
        let executable = try Self.resolve(command[0], searchPath: searchPath)
        var attributes = Spawn.Attributes()
        attributes.newProcessGroup = true
        // Only when relay-init is the terminal's foreground: a backgrounded relay-init must
        // not steal the terminal from the shell that started it.
        attributes.takeTerminal = isatty(STDIN_FILENO) == 1 && tcgetpgrp(STDIN_FILENO) == getpgrp()
        attributes.defaultSignals = Self.touchedSignals
        attributes.keepDescriptors = self.inheritedDescriptors
        switch Spawn.spawn(executable: executable, argv: command, environment: environment, attributes: attributes) {
        case .success(let pid):
            return pid
        case .failure(let error) where error.code == ENOENT || error.code == ENOTDIR:
            throw SpawnError(command: command[0], reason: .notFound(searchedPath: nil))
        case .failure(let error):
            throw SpawnError(command: command[0], reason: .notExecutable(path: executable, detail: error.description))
        }
    }

    /// The file `name` runs: itself when it has a `/`, else the first executable in PATH.
    static func resolve(_ name: String, searchPath: String?) throws(SpawnError) -> String {
        if name.contains("/") {
            var info = stat()
            guard stat(name, &info) == 0 else {
                throw SpawnError(command: name, reason: .notFound(searchedPath: nil))
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw SpawnError(command: name, reason: .notExecutable(path: name, detail: "it is a directory"))
            }
            guard access(name, X_OK) == 0 else {
                throw SpawnError(command: name, reason: .notExecutable(path: name, detail: Errno(errno).description))
            }
            return name
        }
        // The shell's default when PATH is unset.
        let path = searchPath ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        if let found = FileSystem.findExecutable(name, searchPath: path) { return found }
        // Found but not executable is 126, as in sh.
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            if FileSystem.isRegularFile(candidate) {
                throw SpawnError(command: name, reason: .notExecutable(path: candidate, detail: "permission denied"))
            }
        }
        throw SpawnError(command: name, reason: .notFound(searchedPath: path))
    }

    /// Forwards signals to `child` and reaps descendants until `child` has exited.
    public func supervise(child: pid_t, logger: Logger) -> ChildOutcome {
        var collected = Self.collectedSignalSet()
        while true {
            if let signal = Self.waitForSignal(&collected), signal != SIGCHLD {
                logger.debug("forwarding signal \(signal) (\(String(cString: strsignal(signal)))) to pid \(child)")
                if kill(child, signal) != 0 && errno != ESRCH {
                    logger.warning("could not forward signal \(signal) to pid \(child): \(Errno(errno))")
                }
            }
            // Reap after every wake-up, not only on SIGCHLD: SIGCHLDs coalesce, and the
            // 1-second timeout bounds how long any zombie can linger.
            if let outcome = Self.reap(child: child, logger: logger) { return outcome }
        }
    }

    /// Sidecar mode: reaps descendants until SIGTERM or SIGINT arrives; returns that signal.
    public func waitForStopSignal(logger: Logger) -> CInt {
        var collected = Self.collectedSignalSet()
        while true {
            if let signal = Self.waitForSignal(&collected) {
                if Self.stopSignals.contains(signal) { return signal }
                if signal != SIGCHLD {
                    logger.debug("ignoring signal \(signal) (\(String(cString: strsignal(signal)))): no command to forward it to")
                }
            }
            _ = Self.reap(child: nil, logger: logger)
        }
    }

    /// A stop request (SIGTERM, SIGINT, SIGHUP, SIGQUIT) that arrived while relay-init was
    /// setting up, taken off the pending set; nil when there is none. Checked before the
    /// spawn: a container stopped during set-up should not start its command only to kill it.
    public func takePendingStopRequest() -> CInt? {
        var stops = sigset_t()
        sigemptyset(&stops)
        for signal in Self.stopRequestSignals { sigaddset(&stops, signal) }
        var info = siginfo_t()
        var now = timespec(tv_sec: 0, tv_nsec: 0)
        let signal = sigtimedwait(&stops, &info, &now)
        return signal > 0 ? signal : nil
    }

    /// The next collected signal, or nil after a second without one.
    private static func waitForSignal(_ set: inout sigset_t) -> CInt? {
        var info = siginfo_t()
        var timeout = timespec(tv_sec: 1, tv_nsec: 0)
        let signal = sigtimedwait(&set, &info, &timeout)
        return signal > 0 ? signal : nil  // EAGAIN (timeout) and EINTR: just loop
    }

    /// `waitpid(-1, WNOHANG)` until nothing is left to reap; the child's outcome if it was among them.
    private static func reap(child: pid_t?, logger: Logger) -> ChildOutcome? {
        var childOutcome: ChildOutcome?
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                let outcome = ChildOutcome(waitStatus: status)
                if pid == child {
                    childOutcome = outcome
                } else {
                    logger.trace("reaped orphaned process \(pid), which \(outcome)")
                }
            } else if pid < 0 && errno == EINTR {
                continue
            } else {
                return childOutcome  // 0: children left but none exited; ECHILD: none left
            }
        }
    }
}
