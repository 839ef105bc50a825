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
        guard !text.contains(where: \.isWhitespace) else { throw .invalid(text) }
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

    /// Whether only this machine can reach the address: `localhost`, 127.0.0.0/8, `::1`
    /// (in any spelling) and IPv4-mapped 127.0.0.0/8. Anything else, `0.0.0.0` and `::`
    /// included, is reachable from elsewhere.
    public var isLoopback: Bool {
        if self.host.lowercased() == "localhost" { return true }
        if let octets = Self.ipv4Octets(self.host) { return octets[0] == 127 }
        guard self.host.contains(":") else { return false }
        let lower = self.host.lowercased()
        if lower.hasPrefix("::ffff:"), let octets = Self.ipv4Octets(String(lower.dropFirst(7))) {
            return octets[0] == 127
        }
        // ::1 however it is spelled: every group zero but a last group of 1.
        let halves = lower.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2, !halves.contains(where: { $0.hasPrefix(":") || $0.hasSuffix(":") }) else { return false }
        let groups = halves.flatMap { $0.split(separator: ":", omittingEmptySubsequences: true) }
        guard groups.allSatisfy({ $0.count <= 4 && $0.allSatisfy(\.isHexDigit) }), let last = groups.last else { return false }
        guard halves.count == 2 || groups.count == 8 else { return false }
        return UInt16(last, radix: 16) == 1 && groups.dropLast().allSatisfy { UInt16($0, radix: 16) == 0 }
    }

    private static func ipv4Octets(_ text: String) -> [Int]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let octets = parts.compactMap { part -> Int? in
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber) else { return nil }
            return Int(part).flatMap { $0 <= 255 ? $0 : nil }
        }
        return octets.count == 4 ? octets : nil
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
