import Relay

/// A parsed `http://` or `https://` URL: enough structure to derive endpoints, put host
/// names in NO_PROXY and show the URL without credentials; the string goes to libcurl.
public struct EndpointURL: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`, lower case.
    public var scheme: String
    /// `user:password` before `@`, if any. Kept for libcurl, never shown.
    public var userInfo: String?
    /// Host as written, without brackets for IPv6 literals.
    public var host: String
    public var port: Int?
    /// Path as written: empty or starting with `/`.
    public var path: String
    /// Query without the `?`.
    public var query: String?

    /// Parses `scheme://[userinfo@]host[:port][/path][?query][#fragment]` for the given
    /// schemes (IPv6 hosts bracketed). The fragment is dropped: it never goes on the wire.
    public init?(_ string: String, schemes: Set<String> = ["http", "https"]) {
        guard !string.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true }),
            let separator = string.firstRange(of: "://")
        else { return nil }
        let scheme = string[..<separator.lowerBound].lowercased()
        guard schemes.contains(scheme) else { return nil }
        self.scheme = scheme
        var rest = string[separator.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let afterAuthority = rest[authorityEnd...]
        if let question = afterAuthority.firstIndex(of: "?") {
            self.path = String(afterAuthority[..<question])
            self.query = String(afterAuthority[afterAuthority.index(after: question)...])
        } else {
            self.path = String(afterAuthority)
            self.query = nil
        }

        if let at = authority.lastIndex(of: "@") {
            self.userInfo = String(authority[..<at])
            authority = authority[authority.index(after: at)...]
        } else {
            self.userInfo = nil
        }
        guard let (host, port) = Self.splitHostPort(authority, portRequired: false, allowZero: false) else { return nil }
        self.host = host
        self.port = port
    }

    /// Splits `host[:port]` / `[v6][:port]`. An unbracketed IPv6 address is refused.
    static func splitHostPort(_ text: Substring, portRequired: Bool, allowZero: Bool) -> (String, Int?)? {
        let host: Substring
        let portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if after.isEmpty {
                portText = nil
            } else {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
            guard host.contains(":") else { return nil }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return nil }
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
        }
        guard !host.isEmpty, !host.contains("/"), !host.contains("@") else { return nil }
        guard let portText else { return portRequired ? nil : (String(host), nil) }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCIIDigit), portText.count <= 5,
            let port = Int(portText), port <= 65535, allowZero || port > 0
        else { return nil }
        return (String(host), port)
    }

    /// `host[:port]`, IPv6 bracketed.
    public var authority: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return self.port.map { "\(host):\($0)" } ?? host
    }

    /// The URL as given to libcurl (with credentials, if any).
    public var string: String {
        let credentials = self.userInfo.map { "\($0)@" } ?? ""
        return "\(self.scheme)://\(credentials)\(self.authority)\(self.path)\(self.query.map { "?\($0)" } ?? "")"
    }

    /// The URL for messages: credentials replaced, so a log line never carries a secret.
    public var description: String {
        let credentials = self.userInfo == nil ? "" : "***@"
        return "\(self.scheme)://\(credentials)\(self.authority)\(self.path)\(self.query.map { "?\($0)" } ?? "")"
    }

    /// This URL with `suffix` appended to its path, joined by exactly one `/`
    /// (`https://gw/prefix/` + `v1/x` → `https://gw/prefix/v1/x`). Query dropped.
    public func appendingPath(_ suffix: String) -> EndpointURL {
        var url = self
        var base = Substring(self.path)
        while base.hasSuffix("/") { base = base.dropLast() }
        var tail = Substring(suffix)
        while tail.hasPrefix("/") { tail = tail.dropFirst() }
        url.path = "\(base)/\(tail)"
        url.query = nil
        return url
    }

    /// The WebSocket URL at the same place: `http` → `ws`, `https` → `wss`.
    public var webSocketEquivalent: WebSocketURL? {
        WebSocketURL("\(self.scheme == "https" ? "wss" : "ws")://\(self.authority)\(self.path)")
    }
}


extension Character {
    fileprivate var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
