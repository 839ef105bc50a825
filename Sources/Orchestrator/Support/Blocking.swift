import Dispatch

/// Runs async work from the synchronous main thread and waits for it.
///
/// relay-init's main thread is its supervisor (see `Supervisor`) and stays out of the
/// concurrency pool; the few async calls (starting and stopping the relay) are bridged here.
enum Blocking {
    /// Runs `body` on the concurrency pool and waits for it, at most `timeout` when given.
    /// Returns nil when the timeout passed first (the work is then left to finish on its own).
    static func wait<T: Sendable>(
        timeout: Duration? = nil,
        _ body: @escaping @Sendable () async throws -> T
    ) -> Result<T, any Error>? {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Task {
            do {
                box.result = .success(try await body())
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            guard done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return nil }
        } else {
            done.wait()
        }
        return box.result
    }
}

/// One result handed from a task to a waiting thread.
private final class ResultBox<T: Sendable>: @unchecked Sendable {
    // Written once by the task before it signals the semaphore, read only after a
    // successful wait on it: the semaphore orders the two, so no lock is needed.
    var result: Result<T, any Error>?
}
