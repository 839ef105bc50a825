import Logging
import NIOCore
import RelayProtocol

/// Everything the relay needs to carry CONNECT tunnels to one gateway.
public struct RelayConfiguration: Sendable {
    /// Address the CONNECT listener binds to (`127.0.0.1:0`, `[::1]:3128`, …), as parsed from
    /// `--listen`. Port 0 picks a free port.
    public var listen: ListenAddress
    /// The gateway's WebSocket endpoint (`ws://` or `wss://`).
    public var webSocketURL: WebSocketURL
    /// Session id and token: the bearer token on the upgrade, `SESSION:TOKEN` in the first chunk.
    public var sessionID: String
    public var token: String
    /// PEM bundle that `wss://` gateways are verified against; `nil` uses the platform default roots.
    public var trustRootsFile: String?
    /// Bound on TCP connect + TLS + WebSocket upgrade; past it the client gets 504.
    public var handshakeTimeout: TimeAmount
    /// An empty chunk is sent after this long without outbound traffic; `nil` disables keepalives.
    public var keepaliveInterval: TimeAmount?
    public var logger: Logger

    public init(
        listen: ListenAddress = .loopbackAnyPort,
        webSocketURL: WebSocketURL,
        sessionID: String,
        token: String,
        trustRootsFile: String? = nil,
        handshakeTimeout: TimeAmount = .seconds(10),
        keepaliveInterval: TimeAmount? = .seconds(30),
        logger: Logger = Logger(label: "relay")
    ) {
        self.listen = listen
        self.webSocketURL = webSocketURL
        self.sessionID = sessionID
        self.token = token
        self.trustRootsFile = trustRootsFile
        self.handshakeTimeout = handshakeTimeout
        self.keepaliveInterval = keepaliveInterval
        self.logger = logger
    }
}
