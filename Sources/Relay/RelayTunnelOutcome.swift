import TunnelIO

/// How one CONNECT request to the relay ended, for its log line.
enum RelayTunnelOutcome: CustomStringConvertible {
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
