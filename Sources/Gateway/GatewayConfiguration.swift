import Logging
import NIOCore

/// Everything `Gateway.start` needs.
public struct GatewayConfiguration: Sendable {
    /// How clients reach the listener.
    public enum Transport: Sendable, Equatable {
        /// TLS with this certificate chain and key (PEM files), read when the gateway starts.
        case tls(certificateChainPath: String, privateKeyPath: String)
        /// Plain HTTP and `ws://`: for tests and for a gateway behind a TLS-terminating proxy.
        case insecureHTTP
    }

    /// Address to bind (`127.0.0.1`, `::1`, `0.0.0.0`, …); port 0 picks a free port.
    public var host: String
    public var port: Int
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
        host: String = "127.0.0.1",
        port: Int = GatewayConfiguration.defaultPort,
        tokens: [String: String],
        transport: Transport,
        caCertificatePath: String? = nil,
        accessPolicy: AccessPolicy = AccessPolicy(),
        mapHost: [String: String] = [:],
        dialTimeout: TimeAmount = GatewayConfiguration.defaultDialTimeout,
        maxTunnelsPerSession: Int = GatewayConfiguration.defaultMaxTunnelsPerSession,
        logger: Logger = Logger(label: "relay-gateway")
    ) {
        self.host = host
        self.port = port
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

/// `ADDR:PORT` as `--listen` takes it: IPv6 in brackets (`[::1]:0`), port 0–65535.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// Without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(ListenAddressError) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[close...].hasPrefix("]:") else { throw .invalid(text) }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
            guard hostPart.contains(":") else { throw .invalid(text) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .invalid(text) }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            // An unbracketed IPv6 address is ambiguous (`::1:80`): refuse rather than guess.
            guard !hostPart.contains(":") else { throw .unbracketedIPv6(text) }
        }
        guard !hostPart.isEmpty, !portPart.isEmpty, portPart.count <= 5,
              portPart.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }),
              let port = Int(portPart), port <= 65535
        else { throw .invalid(text) }
        self.host = String(hostPart)
        self.port = port
    }

    /// `host:port`, with brackets around IPv6 addresses.
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

public enum ListenAddressError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case unbracketedIPv6(String)

    public var description: String {
        switch self {
        case .invalid(let text): "invalid listen address \"\(text)\": expected ADDR:PORT (port 0-65535, IPv6 as [ADDR]:PORT)"
        case .unbracketedIPv6(let text): "invalid listen address \"\(text)\": write IPv6 addresses in brackets, e.g. [::1]:8443"
        }
    }
}
