import Logging
import NIOCore

/// Everything the relay needs to carry CONNECT tunnels to one gateway.
public struct RelayConfiguration: Sendable {
    /// Address the CONNECT listener binds to (`127.0.0.1`, `::1`, …). Port 0 picks a free port.
    public var listenHost: String
    public var listenPort: Int
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
        listenHost: String = "127.0.0.1",
        listenPort: Int = 0,
        webSocketURL: WebSocketURL,
        sessionID: String,
        token: String,
        trustRootsFile: String? = nil,
        handshakeTimeout: TimeAmount = .seconds(10),
        keepaliveInterval: TimeAmount? = .seconds(30),
        logger: Logger = Logger(label: "relay")
    ) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.webSocketURL = webSocketURL
        self.sessionID = sessionID
        self.token = token
        self.trustRootsFile = trustRootsFile
        self.handshakeTimeout = handshakeTimeout
        self.keepaliveInterval = keepaliveInterval
        self.logger = logger
    }
}

/// A parsed `ws://` or `wss://` URL.
public struct WebSocketURL: Sendable, Equatable, CustomStringConvertible {
    public var isSecure: Bool
    /// Host as written, without brackets for IPv6 literals.
    public var host: String
    public var port: Int
    /// Path plus query, starting with `/`.
    public var pathAndQuery: String

    /// Parses `ws://host[:port][/path][?query]` (IPv6 hosts bracketed). Returns nil for anything else.
    public init?(_ string: String) {
        let lower = string.lowercased()
        let rest: Substring
        if lower.hasPrefix("ws://") {
            self.isSecure = false
            rest = string.dropFirst(5)
        } else if lower.hasPrefix("wss://") {
            self.isSecure = true
            rest = string.dropFirst(6)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }

        let defaultPort = self.isSecure ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            self.host = String(authority[authority.index(after: authority.startIndex)..<close])
            let afterHost = authority[authority.index(after: close)...]
            if afterHost.isEmpty {
                self.port = defaultPort
            } else {
                guard afterHost.hasPrefix(":"), let port = Int(afterHost.dropFirst()), (1...65535).contains(port) else { return nil }
                self.port = port
            }
            guard !self.host.isEmpty else { return nil }
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, !parts[0].isEmpty else { return nil }
            self.host = String(parts[0])
            if parts.count == 2 {
                guard let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
                self.port = port
            } else {
                self.port = defaultPort
            }
        }
        self.pathAndQuery = path
    }

    /// `Host` header value: host plus the port when it is not the scheme's default.
    public var hostHeader: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        let defaultPort = self.isSecure ? 443 : 80
        return self.port == defaultPort ? host : "\(host):\(self.port)"
    }

    public var description: String {
        "\(self.isSecure ? "wss" : "ws")://\(self.hostHeader)\(self.pathAndQuery)"
    }
}
