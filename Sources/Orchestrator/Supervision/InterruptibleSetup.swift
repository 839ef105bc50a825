import CSystemShims
import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Set-up (token and CA fetches, relay start) on a thread of its own, while the main thread
/// keeps taking signals: a container stopped during a slow fetch stops at once instead of
/// after the fetch's timeouts and retries (runtimes SIGKILL about 10 s after SIGTERM).
///
/// Set-up has two phases. Fetching writes nothing that must be undone, so a stop there simply
/// abandons it (the process exits; the token file is kept for a retry, as after any failure).
/// Committing (relay start, env file, token file deletion) is quick and local: a stop there
/// waits for it, so that teardown finds everything it must undo.
final class InterruptibleSetup<Result: Sendable>: @unchecked Sendable {
    // @unchecked: `state` is only touched with `lock` held.
    private enum State {
        case fetching
        case committing
        case finished(Result)
        case abandoned
    }

    enum Outcome {
        /// Set-up ran to the end (successfully or not) without a stop request.
        case finished(Result)
        /// A stop signal arrived first; `result` is set-up's result when it had to be awaited.
        case stopped(signal: CInt, result: Result?)
    }

    private let lock = NIOLock()
    private var state = State.fetching
    private let mainThread = pthread_self()
    /// Set-up tells the main thread that it finished with this signal (blocked from the start
    /// by `Supervisor.takeOver`, like the others).
    static var wakeSignal: CInt { relay_sigrtmin() }

    /// Called by set-up when fetching is over: true to go on and commit, false when a stop
    /// request has abandoned set-up.
    func beginCommit() -> Bool {
        self.lock.withLock {
            guard case .fetching = self.state else { return false }
            self.state = .committing
            return true
        }
    }

    /// Runs `work` on a new thread and waits for it or for one of `stopSignals`.
    func run(stopSignals: [CInt], _ work: @escaping @Sendable (InterruptibleSetup) -> Result) -> Outcome {
        // A thread of its own (not the shared pool): set-up blocks in libcurl.
        DispatchQueue(label: "relay-init.setup").async {
            let result = work(self)
            let wake = self.lock.withLock { () -> Bool in
                guard case .abandoned = self.state else {
                    self.state = .finished(result)
                    return true
                }
                return false
            }
            if wake { pthread_kill(self.mainThread, Self.wakeSignal) }
        }

        var waitSet = sigset_t()
        sigemptyset(&waitSet)
        for signal in stopSignals + [Self.wakeSignal] { sigaddset(&waitSet, signal) }
        var stopSignal: CInt?
        while true {
            var info = siginfo_t()
            var timeout = timespec(tv_sec: 1, tv_nsec: 0)
            let signal = sigtimedwait(&waitSet, &info, &timeout)
            if signal > 0, signal != Self.wakeSignal, stopSignal == nil {
                stopSignal = signal
                let abandoned = self.lock.withLock { () -> Bool in
                    guard case .fetching = self.state else { return false }
                    self.state = .abandoned
                    return true
                }
                if abandoned { return .stopped(signal: signal, result: nil) }
            }
            if case .finished(let result) = self.lock.withLock({ self.state }) {
                if let stopSignal { return .stopped(signal: stopSignal, result: result) }
                return .finished(result)
            }
        }
    }
}
