import Foundation

/// How much slower than a quiet machine the tests may run: one factor, read once from
/// `RELAY_INIT_TEST_TIME_SCALE` (default 1; `scripts/sanitize.sh` raises it, since
/// instrumented binaries are several times slower).
///
/// TestSupport's own deadlines already apply it (``withTimeout(_:waitingFor:_:)``,
/// ``waitUntil(_:timeout:_:)``, ``eventually(timeout:_:)``, `TestProcess.run`,
/// `RunningProcess.wait(timeout:)` and `waitForLine`), so a test passes them the time a
/// quiet machine needs. A test that measures time itself scales the upper bounds it checks
/// with ``scaled(_:)``; lower bounds (a grace period that must be honoured) never scale.
public enum TestTime {
    /// The environment variable holding the factor.
    public static let variable = "RELAY_INIT_TEST_TIME_SCALE"

    /// The factor, at least 1 (a malformed or smaller value counts as 1).
    public static let scale: Double = {
        guard let text = ProcessInfo.processInfo.environment[Self.variable], let value = Double(text), value >= 1 else { return 1 }
        return value
    }()

    /// `duration` stretched by ``scale``.
    public static func scaled(_ duration: Duration) -> Duration {
        duration * Self.scale
    }

    /// `seconds` stretched by ``scale``, for bounds on wall-clock stamps (`time.time()`, `date`).
    public static func scaled(seconds: Double) -> Double {
        seconds * Self.scale
    }

    /// Whole minutes for swift-testing's `.timeLimit(.minutes(…))`, stretched by ``scale``
    /// and rounded up.
    public static func minutes(_ minutes: Int) -> Int {
        Int((Double(minutes) * Self.scale).rounded(.up))
    }
}
