import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The relay's totals since it started, for relay-init's summary line at exit.
public struct RelayTotals: Sendable, Equatable, CustomStringConvertible {
    /// CONNECT requests handled: tunnels, and requests refused before a tunnel existed.
    public var tunnels = 0
    /// Those that ended in an error: a refused head (400/405/431), a tunnel that could not be
    /// opened (502/504), a tunnel ended by an error on either side.
    public var errors = 0
    /// Tunnel payload from clients to the gateway, and from the gateway to clients.
    public var bytesUp = 0
    public var bytesDown = 0

    public init() {}

    public var description: String {
        "\(self.tunnels) \(self.tunnels == 1 ? "tunnel" : "tunnels"), \(self.errors) \(self.errors == 1 ? "error" : "errors"), "
            + "\(self.bytesUp) bytes up, \(self.bytesDown) bytes down"
    }
}

/// Keeps the relay's totals and writes one `debug` line per CONNECT request as it ends:
/// target, outcome, bytes each way, duration. Shared by all of one relay's connections.
final class TunnelLog: Sendable {
    private struct State {
        var totals = RelayTotals()
        var stopping = false
    }

    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    var totals: RelayTotals { self.state.withLockedValue { $0.totals } }

    /// From now on, tunnels that close without either side having ended them were stopped by us.
    func markStopping() {
        self.state.withLockedValue { $0.stopping = true }
    }

    var isStopping: Bool { self.state.withLockedValue { $0.stopping } }

    func record(target: String, outcome: RelayTunnelOutcome, bytesUp: Int, bytesDown: Int, startedAt: NIODeadline) {
        self.state.withLockedValue { state in
            state.totals.tunnels += 1
            if outcome.isError { state.totals.errors += 1 }
            state.totals.bytesUp += bytesUp
            state.totals.bytesDown += bytesDown
        }
        let milliseconds = Double((NIODeadline.now() - startedAt).nanoseconds) / 1e6
        self.logger.debug(
            "tunnel closed",
            metadata: [
                "target": "\(target)",
                "outcome": "\(outcome)",
                "bytes_up": "\(bytesUp)",
                "bytes_down": "\(bytesDown)",
                "duration_ms": "\(Self.rounded(milliseconds))",
            ]
        )
    }

    /// Milliseconds with one decimal, without Foundation's `String(format:)`.
    static func rounded(_ milliseconds: Double) -> String {
        let tenths = Int((milliseconds * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
