/// `host:port` targets as CONNECT writes them (RFC 9110 §9.3.6: the authority form).
public enum ConnectTarget {
    /// Splits `host:port` or `[v6]:port`; nil unless the host is plausible and the port is 1–65535.
    public static func parse(_ target: String) -> (host: String, port: Int)? {
        let host: Substring
        let portText: Substring
        if target.hasPrefix("[") {
            guard let close = target.firstIndex(of: "]") else { return nil }
            host = target[target.index(after: target.startIndex)..<close]
            let rest = target[target.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
            guard Self.isIPv6Literal(host) else { return nil }
        } else {
            guard let colon = target.lastIndex(of: ":") else { return nil }
            host = target[..<colon]
            portText = target[target.index(after: colon)...]
            guard !host.isEmpty, host.utf8.allSatisfy(Self.isRegNameByte) else { return nil }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let port = Int(portText), (1...65535).contains(port)
        else { return nil }
        return (String(host), port)
    }

    /// `host:port`, bracketing IPv6 literals.
    public static func format(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// RFC 3986 reg-name / IPv4 characters: unreserved, sub-delims and `%` (pct-encoding).
    private static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="):
            true
        default:
            false
        }
    }

    /// A textual IPv6 address: hex groups separated by `:`, at most one `::`, optionally an
    /// embedded IPv4 tail and a `%zone`.
    static func isIPv6Literal(_ text: Substring) -> Bool {
        var address = text
        if let percent = address.firstIndex(of: "%") {
            let zone = address[address.index(after: percent)...]
            guard !zone.isEmpty, zone.utf8.allSatisfy(Self.isRegNameByte) else { return false }
            address = address[..<percent]
        }
        guard address.contains(":") else { return false }
        let doubleColons = address.ranges(of: "::").count
        guard doubleColons <= 1 else { return false }
        // The groups on each side of the "::" (none when it is at that end); any other empty
        // group is a stray colon (":1::2", "1::2:", ":::"), which no address has.
        var groups: [Substring] = []
        if let gap = address.firstRange(of: "::") {
            for side in [address[..<gap.lowerBound], address[gap.upperBound...]] where !side.isEmpty {
                groups += side.split(separator: ":", omittingEmptySubsequences: false)
            }
        } else {
            groups = address.split(separator: ":", omittingEmptySubsequences: false)
        }
        guard !groups.contains(where: \.isEmpty) else { return false }
        var groupCount = groups.count
        // An IPv4 tail ends the address: "1.2.3.4::" has none.
        if let last = groups.last, last.contains("."), !address.hasSuffix(":") {
            let octets = last.split(separator: ".", omittingEmptySubsequences: false)
            guard octets.count == 4, octets.allSatisfy(Self.isDecimalOctet) else { return false }
            groups.removeLast()
            groupCount += 1  // an IPv4 tail counts as two groups
        }
        guard groups.allSatisfy({ (1...4).contains($0.utf8.count) && $0.utf8.allSatisfy(Self.isHexDigitByte) }) else {
            return false
        }
        return doubleColons == 1 ? groupCount <= 7 : groupCount == 8
    }

    /// ASCII only: `Character.isHexDigit` also takes fullwidth digits ("１").
    private static func isHexDigitByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
            true
        default:
            false
        }
    }

    /// RFC 3986 dec-octet: 0–255 in ASCII digits without a sign or a leading zero (which
    /// `inet_aton` would read as octal).
    private static func isDecimalOctet(_ text: Substring) -> Bool {
        let digits = text.utf8
        guard (1...3).contains(digits.count), digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              digits.count == 1 || digits.first != UInt8(ascii: "0")
        else { return false }
        return UInt8(text) != nil
    }
}
