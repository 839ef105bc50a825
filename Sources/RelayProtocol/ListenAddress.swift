import NIOCore

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
        // NIO's parser (inet_pton) reads every spelling; the bytes say the rest.
        switch try? SocketAddress(ipAddress: self.host, port: 0) {
        case .v4(let address)?:
            return withUnsafeBytes(of: address.address.sin_addr) { $0[0] == 127 }
        case .v6(let address)?:
            return withUnsafeBytes(of: address.address.sin6_addr) { bytes in
                let isOne = bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1
                let isMapped = bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
                return isOne || (isMapped && bytes[12] == 127)
            }
        default:
            return false
        }
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
