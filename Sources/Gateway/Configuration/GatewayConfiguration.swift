import Logging
import NIOCore
import RelayProtocol

/// Everything `Gateway.start` needs.
public struct GatewayConfiguration: Sendable {
    /// How clients reach the listener.
    public enum Transport: Sendable, Equatable {
        /// TLS with this certificate chain and key (PEM files), read when the gateway starts.
        case tls(certificateChainPath: String, privateKeyPath: String)
        /// Plain HTTP and `ws://`: for tests and for a gateway behind a TLS-terminating proxy.
        case insecureHTTP
    }

    /// Address to bind (`127.0.0.1:8443`, `[::1]:0`, `0.0.0.0:8443`, …); port 0 picks a free port.
    public var listen: ListenAddress
    /// Session id → token: the bearer tokens accepted on the upgrade and the Basic credentials
    /// expected in each tunnel's CONNECT head.
    public var tokens: [String: String]
    public var transport: Transport
    /// PEM file served at `GET /v1/code/upstreamproxy/ca-cert`; nil answers 404 there.
    public var caCertificatePath: String?
    /// Which `host:port` targets may be dialled.
    public var accessPolicy: AccessPolicy
    /// Host name → address to dial instead (tests, split DNS). Names match case-insensitively;
    /// the policy is checked against the name the client asked for, not the mapped address.
    public var mapHost: [String: String]
    /// Bound on resolving and connecting to a target; past it the client gets 504.
    public var dialTimeout: TimeAmount
    /// Open tunnels allowed per session; an upgrade beyond that is answered `429 Too Many Requests`.
    public var maxTunnelsPerSession: Int
    public var logger: Logger

    public static let defaultPort = 8443
    public static let defaultDialTimeout = TimeAmount.seconds(10)
    public static let defaultMaxTunnelsPerSession = 512

    public init(
        listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: GatewayConfiguration.defaultPort),
        tokens: [String: String],
        transport: Transport,
        caCertificatePath: String? = nil,
        accessPolicy: AccessPolicy = AccessPolicy(),
        mapHost: [String: String] = [:],
        dialTimeout: TimeAmount = GatewayConfiguration.defaultDialTimeout,
        maxTunnelsPerSession: Int = GatewayConfiguration.defaultMaxTunnelsPerSession,
        logger: Logger = Logger(label: "relay-gateway")
    ) {
        self.listen = listen
        self.tokens = tokens
        self.transport = transport
        self.caCertificatePath = caCertificatePath
        self.accessPolicy = accessPolicy
        self.mapHost = mapHost
        self.dialTimeout = dialTimeout
        self.maxTunnelsPerSession = maxTunnelsPerSession
        self.logger = logger
    }
}
