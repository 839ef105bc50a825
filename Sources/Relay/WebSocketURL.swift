import RelayProtocol

/// The gateway's tunnel endpoint: an `EndpointURL` that is known to be `ws://` or `wss://`
/// and to carry no credentials, so the relay needs no check of its own. Built from a
/// `--ws-url` value, or from the gateway's URL without formatting and parsing it again.
public struct WebSocketURL: Sendable, Hashable, CustomStringConvertible {
    public let url: EndpointURL

    /// nil unless `url` is `ws://` or `wss://` without `user@`.
    public init?(_ url: EndpointURL) {
        guard url.scheme.isWebSocket, url.userInfo == nil else { return nil }
        self.url = url
    }

    /// Parses `ws://host[:port][/path][?query]` (IPv6 hosts bracketed). nil for anything else.
    public init?(_ string: String) {
        guard let url = EndpointURL(string, schemes: [.ws, .wss]) else { return nil }
        self.init(url)
    }

    /// The WebSocket endpoint at `url`'s place: `http` → `ws`, `https` → `wss`.
    public init(webSocketEquivalentOf url: EndpointURL) {
        self.url = url.webSocketEquivalent
    }

    public var isSecure: Bool { self.url.scheme.isSecure }
    /// Lowercase; IPv6 without brackets.
    public var host: String { self.url.host }
    /// As written, else the scheme's default.
    public var port: Int { self.url.effectivePort }
    /// Path plus query, starting with `/`.
    public var pathAndQuery: String { self.url.pathAndQuery }
    /// `Host` header value: host plus the port when it is not the scheme's default.
    public var hostHeader: String { self.url.hostHeader }

    public var description: String {
        "\(self.url.scheme.rawValue)://\(self.hostHeader)\(self.pathAndQuery)"
    }
}
