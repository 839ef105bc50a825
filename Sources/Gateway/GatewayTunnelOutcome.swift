/// Why a tunnel through the gateway ended, for its log line.
enum GatewayTunnelOutcome: CustomStringConvertible {
    case closedBeforeHead
    case clientClosed
    case targetClosed
    case gatewayShutdown
    case refused(status: Int, reason: String)
    case invalidMessage(String)
    case failed(String)

    var description: String {
        switch self {
        case .closedBeforeHead: "client closed before sending a CONNECT head"
        case .clientClosed: "client closed"
        case .targetClosed: "target closed"
        case .gatewayShutdown: "gateway shutting down"
        case .refused(let status, let reason): "refused with \(status): \(reason)"
        case .invalidMessage(let why): "closed: \(why)"
        case .failed(let why): "failed: \(why)"
        }
    }
}
