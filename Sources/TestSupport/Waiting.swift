/// A value that changes over time and that async callers can wait on,
/// without polling: each change re-checks the pending waiters. For state that
/// event-loop handlers, pipe readers and fakes update and tests wait on.
public final class Waitable<Value>: @unchecked Sendable {
    // @unchecked: `state` (value and waiters) is only touched under the box's lock.
    private struct Waiter {
        /// Resumes the waiter and returns true if `value` satisfies it.
        let attempt: (Value) -> Bool
        let cancel: () -> Void
    }

    private struct State {
        var value: Value
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        /// Waiters whose task was cancelled before they registered.
        var cancelledEarly: Set<UInt64> = []
    }

    private let state: LockedBox<State>

    public init(_ value: Value) {
        state = LockedBox(State(value: value))
    }

    public func read<T>(_ body: (Value) -> T) -> T {
        state.withLock { body($0.value) }
    }

    public var current: Value {
        read { $0 }
    }

    public func update(_ body: (inout Value) -> Void) {
        state.withLock { state in
            body(&state.value)
            let value = state.value
            state.waiters = state.waiters.filter { !$0.value.attempt(value) }
        }
    }

    /// Suspends until `extract` returns non-nil for the current value, and returns that.
    /// Throws `CancellationError` if the task is cancelled first.
    public func wait<T: Sendable>(_ extract: @escaping @Sendable (Value) -> T?) async throws -> T {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
                state.withLock { state in
                    if state.cancelledEarly.remove(id) != nil {
                        continuation.resume(throwing: CancellationError())
                    } else if let result = extract(state.value) {
                        continuation.resume(returning: result)
                    } else {
                        state.waiters[id] = Waiter(
                            attempt: { value in
                                guard let result = extract(value) else { return false }
                                continuation.resume(returning: result)
                                return true
                            },
                            cancel: { continuation.resume(throwing: CancellationError()) }
                        )
                    }
                }
            }
        } onCancel: {
            state.withLock { state in
                if let waiter = state.waiters.removeValue(forKey: id) {
                    waiter.cancel()
                } else {
                    state.cancelledEarly.insert(id)
                }
            }
        }
    }
}

extension Waitable {
    /// Returns once `predicate` holds; throws ``TestTimeoutError`` (naming `what`) after
    /// `timeout` (stretched by ``TestTime/scale``).
    public func wait(_ what: String, timeout: Duration = .seconds(20), until predicate: @escaping @Sendable (Value) -> Bool) async throws {
        try await withTimeout(timeout, waitingFor: what) {
            try await self.wait { predicate($0) ? () : nil }
        }
    }
}

/// Thrown by ``withTimeout(_:waitingFor:_:)`` when the deadline passes first.
public struct TestTimeoutError: Error, CustomStringConvertible {
    public let waitingFor: String
    public let timeout: Duration

    public var description: String {
        "timed out after \(timeout) waiting for \(waitingFor)"
    }
}

/// Runs `operation`, cancelling it and throwing ``TestTimeoutError`` if it
/// has not finished after `timeout` (stretched by ``TestTime/scale``). The operation must
/// react to cancellation.
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    waitingFor description: String,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let limit = TestTime.scaled(timeout)
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TestTimeoutError(waitingFor: description, timeout: limit)
        }
        defer { group.cancelAll() }
        // Both children either return or throw, so `next()` always yields one.
        guard let first = try await group.next() else {
            throw CancellationError()
        }
        return first
    }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` (stretched by
/// ``TestTime/scale``) passes, then throws ``TestTimeoutError``. Only for states that
/// announce no event (counters inside another component, /proc entries, a file appearing).
public func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let limit = TestTime.scaled(timeout)
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestTimeoutError(waitingFor: what, timeout: limit) }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// ``waitUntil(_:timeout:_:)`` for a caller that checks the outcome itself: polls
/// `condition` until it holds or `timeout` (stretched by ``TestTime/scale``) passes, and
/// returns whether it held. A negative check ("no second request within 500 ms") reads
/// the same way: `#expect(await !eventually(timeout: .milliseconds(500)) { … })`.
public func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + TestTime.scaled(timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
