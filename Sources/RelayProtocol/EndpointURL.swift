/// The one URL type: `http`, `https`, `ws` or `wss`, with enough structure to derive the
/// gateway's endpoints, put host names in NO_PROXY, open a WebSocket and show the URL without
/// credentials. Its authority is read by the one `Authority` parser.
public struct EndpointURL: Sendable, Hashable, CustomStringConvertible {
    /// The schemes relay-init speaks.
    public enum Scheme: String, Sendable, Hashable, CaseIterable, Comparable {
        case http, https, ws, wss

        /// 443 for `https`/`wss`, 80 for `http`/`ws`.
        public var defaultPort: Int { self.isSecure ? 443 : 80 }
        /// TLS: `https` and `wss`.
        public var isSecure: Bool { self == .https || self == .wss }
        /// `ws` and `wss`.
        public var isWebSocket: Bool { self == .ws || self == .wss }
        /// The WebSocket scheme at the same place: `http` → `ws`, `https` → `wss`.
        public var webSocketEquivalent: Scheme { self.isSecure ? .wss : .ws }

        public static func < (lhs: Scheme, rhs: Scheme) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public var scheme: Scheme
    /// `user:password` before `@`, if any. Kept for libcurl, never shown.
    public var userInfo: String?
    /// Host (lowercase, IPv6 without brackets) and the port if one was written.
    public var authority: Authority
    /// Path as written: empty or starting with `/`.
    public var path: String
    /// Query without the `?`.
    public var query: String?

    public init(scheme: Scheme, userInfo: String? = nil, authority: Authority, path: String = "", query: String? = nil) {
        self.scheme = scheme
        self.userInfo = userInfo
        self.authority = authority
        self.path = path
        self.query = query
    }

    /// Parses `scheme://[userinfo@]host[:port][/path][?query][#fragment]` for the given schemes
    /// (scheme in any case, IPv6 hosts bracketed, port 1–65535). The fragment is dropped: it
    /// never goes on the wire.
    public init(parsing string: String, schemes: Set<Scheme>) throws(EndpointURLError) {
        guard !string.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .whitespaceOrControlCharacter
        }
        guard let separator = string.firstRange(of: "://") else { throw .missingScheme }
        let schemeText = string[..<separator.lowerBound].lowercased()
        guard let scheme = Scheme(rawValue: schemeText), schemes.contains(scheme) else {
            throw .unsupportedScheme(schemeText)
        }
        var rest = string[separator.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var authorityText = rest[..<authorityEnd]
        let afterAuthority = rest[authorityEnd...]
        let path: Substring
        let query: Substring?
        if let question = afterAuthority.firstIndex(of: "?") {
            path = afterAuthority[..<question]
            query = afterAuthority[afterAuthority.index(after: question)...]
        } else {
            path = afterAuthority
            query = nil
        }

        var userInfo: Substring?
        if let at = authorityText.lastIndex(of: "@") {
            userInfo = authorityText[..<at]
            authorityText = authorityText[authorityText.index(after: at)...]
        }
        let authority: Authority
        do throws(AuthorityError) {
            authority = try Authority(parsing: authorityText, portRequired: false)
        } catch {
            throw .invalidAuthority(error)
        }
        self.init(scheme: scheme, userInfo: userInfo.map(String.init), authority: authority, path: String(path), query: query.map(String.init))
    }

    /// `init(parsing:schemes:)`, nil for anything it refuses; `http` and `https` unless told.
    public init?(_ string: String, schemes: Set<Scheme> = [.http, .https]) {
        guard let url = try? EndpointURL(parsing: string, schemes: schemes) else { return nil }
        self = url
    }

    /// Lowercase; IPv6 without brackets.
    public var host: String { self.authority.host }
    /// The port as written, nil when none was.
    public var port: Int? { self.authority.port }
    /// The port to connect to: as written, else the scheme's default.
    public var effectivePort: Int { self.authority.port ?? self.scheme.defaultPort }

    /// `Host` header value: host plus the port when it is not the scheme's default.
    public var hostHeader: String {
        self.effectivePort == self.scheme.defaultPort
            ? self.authority.bracketedHost : Authority(host: self.host, port: self.effectivePort).description
    }

    /// The request target: the path (`/` when empty) and the query.
    public var pathAndQuery: String {
        (self.path.isEmpty ? "/" : self.path) + (self.query.map { "?\($0)" } ?? "")
    }

    /// The URL as given to libcurl (with credentials, if any).
    public var string: String {
        self.formatted(credentials: self.userInfo.map { "\($0)@" } ?? "")
    }

    /// The URL for messages: credentials replaced, so a log line never carries a secret.
    public var description: String {
        self.formatted(credentials: self.userInfo == nil ? "" : "***@")
    }

    private func formatted(credentials: String) -> String {
        "\(self.scheme.rawValue)://\(credentials)\(self.authority)\(self.path)\(self.query.map { "?\($0)" } ?? "")"
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

    /// The WebSocket URL at the same place: `http` → `ws`, `https` → `wss`, without
    /// credentials (a WebSocket carries the token in its `Authorization` header).
    public var webSocketEquivalent: EndpointURL {
        var url = self
        url.scheme = self.scheme.webSocketEquivalent
        url.userInfo = nil
        return url
    }
}
