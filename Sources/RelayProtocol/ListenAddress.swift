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
