import Logging
import NIOConcurrencyHelpers
import NIOCore
import TunnelIO

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

/// How one CONNECT request ended, for its log line.
enum TunnelOutcome: CustomStringConvertible {
    /// The relay refused the head itself (400, 405, 431).
    case refused(status: Int, why: String)
    /// The WebSocket could not be opened; the client got `status` (502 or 504).
    case openFailed(status: Int, why: String)
    case clientLeftDuringHandshake
    case clientClosed
    case gatewayClosed
    case clientError(String)
    case gatewayError(String)
    /// Closed by the relay's shutdown.
    case relayStopped

    var isError: Bool {
        switch self {
        case .refused, .openFailed, .gatewayError: true
        case .clientLeftDuringHandshake, .clientClosed, .gatewayClosed, .clientError, .relayStopped: false
        }
    }

    var description: String {
        switch self {
        case .refused(let status, let why): "refused with \(status): \(why)"
        case .openFailed(let status, let why): "answered \(status): \(why)"
        case .clientLeftDuringHandshake: "client left during the WebSocket handshake"
        case .clientClosed: "client closed"
        case .gatewayClosed: "gateway closed"
        case .clientError(let why): "client connection error: \(why)"
        case .gatewayError(let why): "gateway connection error: \(why)"
        case .relayStopped: "relay stopped"
        }
    }

    /// The outcome of a glued tunnel, from whichever side ended it first.
    init(client: GlueHandler.Ending?, gateway: GlueHandler.Ending?, relayStopping: Bool) {
        switch (gateway, client) {
        case (.error(let error)?, _): self = .gatewayError("\(error)")
        case (.some, _): self = .gatewayClosed
        case _ where relayStopping: self = .relayStopped
        case (nil, .error(let error)?): self = .clientError("\(error)")
        case (nil, _): self = .clientClosed
        }
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

    func record(target: String, outcome: TunnelOutcome, bytesUp: Int, bytesDown: Int, startedAt: NIODeadline) {
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
