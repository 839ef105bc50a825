import Foundation

/// A value guarded by a lock, for state shared between event loops, pipe
/// reader threads and async callers. (`Synchronization.Mutex` would do, but
/// needs macOS 15 and the package supports macOS 13.)
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
