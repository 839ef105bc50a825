import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Set-up on a thread of its own, while the main thread keeps taking signals: a container
/// stopped during a slow set-up (a fetch with timeouts and retries) stops at once instead of
/// after it (runtimes SIGKILL about 10 s after SIGTERM).
///
/// Set-up has two phases. Preparing writes nothing that must be undone, so a stop there simply
/// abandons it (the process exits). Committing is quick and local: a stop there waits for it,
/// so that teardown finds everything it must undo.
public final class InterruptibleSetup<Result: Sendable>: @unchecked Sendable {
    // @unchecked: `state` is only touched with `lock` held.
    private enum State {
        case preparing
        case committing
        case finished(Result)
        case abandoned
    }

    public enum Outcome {
        /// Set-up ran to the end (successfully or not) without a stop request.
        case finished(Result)
        /// A stop signal arrived first; `result` is set-up's result when it had to be awaited.
        case stopped(signal: CInt, result: Result?)
    }

    private let lock = NIOLock()
    private var state = State.preparing
    private let mainThread = pthread_self()

    /// Create it on the thread that took the signals over (`Supervisor.takeOver`), which `run` then blocks.
    public init() {}

    /// Called by set-up when preparing is over: true to go on and commit, false when a stop
    /// request has abandoned set-up.
    public func beginCommit() -> Bool {
        self.lock.withLock {
            guard case .preparing = self.state else { return false }
            self.state = .committing
            return true
        }
    }

    /// Runs `work` on a new thread and waits for it or for one of `stopSignals`.
    public func run(stopSignals: [CInt], _ work: @escaping @Sendable (InterruptibleSetup) -> Result) -> Outcome {
        // A thread of its own (not the shared pool): set-up may block (libcurl, a tool).
        DispatchQueue(label: "relay-init.setup").async {
            let result = work(self)
            let wake = self.lock.withLock { () -> Bool in
                guard case .abandoned = self.state else {
                    self.state = .finished(result)
                    return true
                }
                return false
            }
            if wake { pthread_kill(self.mainThread, Supervisor.wakeSignal) }
        }

        var stopSignal: CInt?
        while true {
            // The timeout only bounds a lost wake-up; the state is checked after every return.
            let signal = Supervisor.takeSignal(stopSignals + [Supervisor.wakeSignal], timeout: .seconds(1))
            if let signal, signal != Supervisor.wakeSignal, stopSignal == nil {
                stopSignal = signal
                let abandoned = self.lock.withLock { () -> Bool in
                    guard case .preparing = self.state else { return false }
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
