import Foundation
import RelayProtocol

/// One `HOST:PORT` pattern of the gateway's allow or deny list.
///
/// - HOST is a name or address compared case-insensitively, `*` for any host, or a name with
///   `*` labels: a leading `*` matches one or more labels (`*.example.com` matches
///   `a.example.com` and `a.b.example.com`, not `example.com` itself, the usual meaning in
///   proxy allow lists); any other `*` label matches exactly one label (`api.*.example.com`).
///   IPv6 addresses are written in brackets (`[::1]:443`).
/// - PORT is a number in 1–65535 or `*` for any port.
///
/// The text is read by RelayProtocol's `Authority` parser, like every other `host:port`.
public struct HostPattern: Sendable, Hashable, CustomStringConvertible {
    enum Host: Sendable, Hashable {
        case any
        /// Lowercased labels, most significant last as written (`["*", "example", "com"]`).
        case labels([String])
        /// An IPv6 address as its 16 bytes, so `[::1]` also matches `0:0:0:0:0:0:0:1`.
        case ipv6([UInt8])
    }

    let host: Host
    /// nil = any port.
    let port: Int?

    /// The pattern as written, for logs and error messages.
    public let description: String

    public init(_ text: String) throws(HostPatternError) {
        // `*` for the port is the pattern's own; everything else is the one authority syntax.
        let anyPort = text.hasSuffix(":*")
        let authority: Authority
        do throws(AuthorityError) {
            authority = try Authority(parsing: anyPort ? text.dropLast(2) : Substring(text), portRequired: !anyPort)
        } catch .missingPort {
            throw .missingPort(text)
        } catch .invalidPort, .portOutOfRange {
            throw .invalidPort(text)
        } catch {
            throw .invalidHost(text)
        }
        // `a:80:*` reads as host `a:80`, not as a port.
        guard !anyPort || authority.port == nil else { throw .invalidHost(text) }
        self.port = authority.port

        if authority.host == "*" {
            self.host = .any
        } else if authority.isIPv6 {
            // Compared as bytes; a zone (`%eth0`) names no address a target resolves to.
            guard let address = Self.ipv6Bytes(authority.host) else { throw .invalidHost(text) }
            self.host = .ipv6(address)
        } else {
            let normalized = Self.normalize(authority.host)
            let labels = normalized.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !normalized.isEmpty, labels.allSatisfy({ !$0.isEmpty && ($0 == "*" || !$0.contains("*")) }) else {
                throw .invalidHost(text)
            }
            self.host = .labels(labels)
        }
        self.description = text
    }

    /// Whether a CONNECT target matches. `host` is as the client wrote it (IPv6 without brackets).
    public func matches(host: String, port: Int) -> Bool {
        if let expected = self.port, expected != port { return false }
        switch self.host {
        case .any:
            return true
        case .ipv6(let address):
            return Self.ipv6Bytes(host) == address
        case .labels(let pattern):
            guard !host.contains(":") else { return false }
            let labels = Self.normalize(host).split(separator: ".", omittingEmptySubsequences: false)
            return Self.match(pattern: pattern[...], labels: labels[...])
        }
    }

    /// Lowercase, without the trailing dot of a fully qualified name.
    private static func normalize(_ host: String) -> String {
        let lower = host.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }

    private static func ipv6Bytes(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    private static func match(pattern: ArraySlice<String>, labels: ArraySlice<Substring>) -> Bool {
        if pattern.first == "*" {
            // Leading wildcard: one or more labels, then the rest must match exactly.
            let rest = pattern.dropFirst()
            guard labels.count > rest.count else { return false }
            return Self.matchLabels(pattern: rest, labels: labels.suffix(rest.count))
        }
        guard labels.count == pattern.count else { return false }
        return Self.matchLabels(pattern: pattern, labels: labels)
    }

    private static func matchLabels(pattern: ArraySlice<String>, labels: ArraySlice<Substring>) -> Bool {
        zip(pattern, labels).allSatisfy { $0 == "*" || $0 == $1 }
    }
}

public enum HostPatternError: Error, Equatable, CustomStringConvertible {
    case missingPort(String)
    case invalidPort(String)
    case invalidHost(String)

    public var description: String {
        switch self {
        case .missingPort(let text):
            "pattern \"\(text)\" has no port: write HOST:PORT, with * for any port (example.com:*)"
        case .invalidPort(let text):
            "pattern \"\(text)\" has an invalid port: use a number in 1-65535 or *"
        case .invalidHost(let text):
            "pattern \"\(text)\" has an invalid host: use a name, *.name, * or [IPv6]"
        }
    }
}

/// Which CONNECT targets the gateway dials: deny wins over allow; an empty allow list allows all.
public struct AccessPolicy: Sendable {
    public var allow: [HostPattern]
    public var deny: [HostPattern]

    public init(allow: [HostPattern] = [], deny: [HostPattern] = []) {
        self.allow = allow
        self.deny = deny
    }

    public func permits(host: String, port: Int) -> Bool {
        if self.deny.contains(where: { $0.matches(host: host, port: port) }) { return false }
        return self.allow.isEmpty || self.allow.contains(where: { $0.matches(host: host, port: port) })
    }
}
