import CSystemShims
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The init (tini's job, in the shape of krallin/tini's src/tini.c): block the signals, become
/// a subreaper, spawn the child in its own process group with the terminal, then loop on
/// `takeSignal`: forward what arrives, reap every exited descendant, until the child is gone.
///
/// The loop runs on the main thread, which the caller dedicates to it: other threads (NIO's,
/// the concurrency pool's) start after `takeOver` and so never take these signals.
public struct Supervisor: Sendable {
    /// Forwarded to the child as they arrive.
    public static let forwardedSignals: [CInt] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT]
    /// What stops a sidecar (no child).
    public static let stopSignals: [CInt] = [SIGTERM, SIGINT]
    /// What stops the process before it has started the child.
    public static let stopRequestSignals: [CInt] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]
    /// What the wait loop takes: the forwarded signals, and SIGCHLD to reap.
    private static let collectedSignals = Self.forwardedSignals + [SIGCHLD]
    /// Every signal whose handling the process (or a library in it: SIGPIPE) may change; a
    /// child gets them back at their defaults, as a shell would start it.
    static let resetInChild: [CInt] = Self.forwardedSignals + [SIGCHLD, SIGTTIN, SIGTTOU, SIGPIPE, Self.wakeSignal]
    /// What `InterruptibleSetup`'s thread wakes the main thread with (SIGRTMIN, a function in glibc).
    static let wakeSignal: CInt = relay_sigrtmin()

    /// The descriptors the process inherited: the only ones (besides 0–2) a child inherits too.
    let inheritedDescriptors: Set<CInt>

    // MARK: Taking over

    /// Takes the signals over. Call it first, before anything starts a thread.
    ///
    /// The collected signals are blocked, not handled: blocked signals stay pending until
    /// `takeSignal` takes them, with no handler racing the loop — and, as PID 1, a blocked
    /// signal is queued where one with the default action would be dropped by the kernel.
    /// A signal mask is per thread and inherited by new threads, so blocking it here, before
    /// NIO or the concurrency runtime start theirs, keeps every thread from taking them.
    public static func takeOver() -> Supervisor {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        // Also the signal set-up uses to wake the main thread (see InterruptibleSetup).
        for signal in Self.collectedSignals + [Self.wakeSignal] { sigaddset(&blocked, signal) }
        pthread_sigmask(SIG_BLOCK, &blocked, nil)
        // The child gets the terminal's foreground; we, then in the background, must not be
        // stopped when we write a log line (tini does the same).
        signal(SIGTTIN, SIG_IGN)
        signal(SIGTTOU, SIG_IGN)
        return Supervisor(inheritedDescriptors: DescriptorSnapshot.current().descriptors)
    }

    /// `PR_SET_CHILD_SUBREAPER` when not PID 1: orphaned descendants are re-parented to us, to
    /// be reaped by the wait loop (PID 1 gets them anyway).
    public func becomeSubreaper(logger: Logger) {
        if getpid() != 1, relay_prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 {
            logger.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: \(Errno(errno)); orphaned grandchildren will not be reaped by relay-init")
        }
    }

    // MARK: Spawning

    /// Spawns the command in its own process group, with the terminal when we have it.
    /// `PATH` is searched here rather than by posix_spawnp, to tell "not found" (127) from
    /// "not executable" (126) with the path in the message.
    public func spawn(_ command: [String], environment: [String], searchPath: String?) throws(SpawnError) -> pid_t {
        let executable = try ExecutableSearch.resolve(command[0], searchPath: searchPath)
        var attributes = ProcessSpawner.Attributes()
        attributes.newProcessGroup = true
        // Only when we are the terminal's foreground: a backgrounded init must not steal the
        // terminal from the shell that started it.
        attributes.takeTerminal = isatty(STDIN_FILENO) == 1 && tcgetpgrp(STDIN_FILENO) == getpgrp()
        attributes.defaultSignals = Self.resetInChild
        attributes.keepDescriptors = self.inheritedDescriptors
        switch ProcessSpawner.spawn(executable: executable, argv: command, environment: environment, attributes: attributes) {
        case .success(let pid):
            return pid
        case .failure(let error) where error.code == ENOENT || error.code == ENOTDIR:
            throw SpawnError(command: command[0], reason: .notFound(searchedPath: nil))
        case .failure(let error):
            throw SpawnError(command: command[0], reason: .notExecutable(path: executable, detail: error.description))
        }
    }

    // MARK: The wait loop

    /// Forwards signals to `child` and reaps descendants until `child` has exited.
    public func supervise(child: pid_t, logger: Logger) -> ChildOutcome {
        switch self.waitLoop(child: child, logger: logger) {
        case .childExited(let outcome): return outcome
        case .stopped: preconditionFailure("the wait loop stops on a signal only without a child")
        }
    }

    /// Sidecar mode: reaps descendants until SIGTERM or SIGINT arrives; returns that signal.
    public func waitForStopSignal(logger: Logger) -> CInt {
        switch self.waitLoop(child: nil, logger: logger) {
        case .stopped(let signal): return signal
        case .childExited: preconditionFailure("the wait loop has no child to see exit")
        }
    }

    private enum LoopEnd {
        case childExited(ChildOutcome)
        case stopped(CInt)
    }

    /// The one wait loop. With a child: forward each signal to it, reap, until it has exited.
    /// Without: reap, until a stop signal (`stopSignals`) arrives.
    private func waitLoop(child: pid_t?, logger: Logger) -> LoopEnd {
        while true {
            if let signal = Self.takeSignal(Self.collectedSignals, timeout: .seconds(1)), signal != SIGCHLD {
                if let child {
                    logger.debug("forwarding signal \(signal) (\(String(cString: strsignal(signal)))) to pid \(child)")
                    if kill(child, signal) != 0 && errno != ESRCH {
                        logger.warning("could not forward signal \(signal) to pid \(child): \(Errno(errno))")
                    }
                } else if Self.stopSignals.contains(signal) {
                    return .stopped(signal)
                } else {
                    logger.debug("ignoring signal \(signal) (\(String(cString: strsignal(signal)))): no command to forward it to")
                }
            }
            // Reap after every wake-up, not only on SIGCHLD: SIGCHLDs coalesce, and the
            // 1-second timeout bounds how long any zombie can linger.
            if let outcome = Self.reap(child: child, logger: logger) { return .childExited(outcome) }
        }
    }

    /// A stop request (SIGTERM, SIGINT, SIGHUP, SIGQUIT) that arrived during set-up, taken off
    /// the pending set; nil when there is none. Checked before the spawn: a container stopped
    /// during set-up should not start its command only to kill it.
    public func takePendingStopRequest() -> CInt? {
        Self.takeSignal(Self.stopRequestSignals, timeout: .zero)
    }

    /// The one place that waits for a signal: takes one of `signals` (blocked, see `takeOver`)
    /// off the pending set, waiting up to `timeout`; nil when none came in time.
    static func takeSignal(_ signals: [CInt], timeout: Duration) -> CInt? {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        var info = siginfo_t()
        let (seconds, attoseconds) = timeout.components
        var limit = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        let signal = sigtimedwait(&set, &info, &limit)
        return signal > 0 ? signal : nil  // EAGAIN (timeout) and EINTR: the caller loops
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
