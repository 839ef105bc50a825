import Foundation
import TestSupport

/// A value that event-loop handlers update and tests wait on, without polling: every update
/// re-checks the waiting predicates. (TestSupport has the same idea internally; this target
/// cannot see it.)
final class Observed<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `value`, `waiters` and `nextID` are only touched under `lock`.
    private let lock = NSLock()
    private var value: Value
    private var waiters: [Int: (predicate: (Value) -> Bool, continuation: CheckedContinuation<Void, Error>)] = [:]
    private var cancelledBeforeRegistering: Set<Int> = []
    private var nextID = 0

    init(_ value: Value) {
        self.value = value
    }

    var current: Value {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.value
    }

    func update(_ body: (inout Value) -> Void) {
        self.lock.lock()
        body(&self.value)
        let value = self.value
        var ready: [CheckedContinuation<Void, Error>] = []
        for (id, waiter) in self.waiters where waiter.predicate(value) {
            ready.append(waiter.continuation)
            self.waiters[id] = nil
        }
        self.lock.unlock()
        ready.forEach { $0.resume() }
    }

    /// Returns once `predicate` holds; throws `TestTimeoutError` (naming `what`) after `timeout`.
    func wait(_ what: String, timeout: Duration = .seconds(20), until predicate: @escaping @Sendable (Value) -> Bool) async throws {
        try await withTimeout(timeout, waitingFor: what) {
            try await self.wait(until: predicate)
        }
    }

    private func wait(until predicate: @escaping @Sendable (Value) -> Bool) async throws {
        let id = self.lock.withLock {
            defer { self.nextID += 1 }
            return self.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                self.lock.lock()
                if self.cancelledBeforeRegistering.remove(id) != nil {
                    self.lock.unlock()
                    continuation.resume(throwing: CancellationError())
                } else if predicate(self.value) {
                    self.lock.unlock()
                    continuation.resume()
                } else {
                    self.waiters[id] = (predicate, continuation)
                    self.lock.unlock()
                }
            }
        } onCancel: {
            let waiter = self.lock.withLock {
                let waiter = self.waiters.removeValue(forKey: id)
                if waiter == nil { self.cancelledBeforeRegistering.insert(id) }
                return waiter
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}
