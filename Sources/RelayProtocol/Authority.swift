/// `host[:port]` as URLs, CONNECT targets, listen addresses and the gateway's host patterns
/// write it (RFC 3986 §3.2.2–3.2.3): the one parser all of them use.
///
/// - An IPv6 address is written in brackets (`[::1]:443`) and kept without them. Without
///   brackets it is refused (`::1:80`): where its port would start is a guess.
/// - Any other host is an RFC 3986 reg-name or IPv4 address: letters, digits, `-._~`, the
///   sub-delims `!$&'()*+,;=` and `%`. No IDNA: a host outside ASCII is refused, not converted.
/// - The host is lowercased (ASCII), except an IPv6 zone (`%eth0`), which names an interface.
/// - The port is one to five ASCII digits, within the range the caller allows.
public struct Authority: Sendable, Hashable, CustomStringConvertible {
    /// Lowercase; IPv6 without brackets.
    public var host: String
    /// nil when none was written (only possible when the caller did not require one).
    public var port: Int?

    /// An authority the program already knows to be well formed (not checked).
    public init(host: String, port: Int?) {
        self.host = host
        self.port = port
    }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    /// - Parameters:
    ///   - portRequired: whether `host` alone is refused (`.missingPort`).
    ///   - portRange: the ports accepted: 1–65535, or 0–65535 where 0 asks for any free port.
    public init(
        parsing text: some StringProtocol,
        portRequired: Bool,
        portRange: ClosedRange<Int> = 1...65535
    ) throws(AuthorityError) {
        let text = Substring(text)
        let hostText: Substring
        let portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .unclosedBracket }
            hostText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                portText = nil
            } else {
                guard rest.hasPrefix(":") else { throw .textAfterBracket }
                portText = rest.dropFirst()
            }
            guard !hostText.isEmpty else { throw .emptyHost }
            guard Self.isIPv6Literal(hostText) else { throw .notIPv6(String(hostText)) }
            self.host = Self.lowercasedIPv6(hostText)
        } else {
            if let colon = text.firstIndex(of: ":") {
                let rest = text[text.index(after: colon)...]
                guard !rest.contains(":") else { throw .unbracketedIPv6 }
                hostText = text[..<colon]
                portText = rest
            } else {
                hostText = text
                portText = nil
            }
            guard !hostText.isEmpty else { throw .emptyHost }
            if let bad = hostText.first(where: { !($0.asciiValue.map(Self.isRegNameByte) ?? false) }) {
                throw .invalidHostCharacter(bad)
            }
            self.host = Self.lowercasedASCII(hostText)
        }
        guard let portText else {
            if portRequired { throw .missingPort }
            self.port = nil
            return
        }
        guard (1...5).contains(portText.utf8.count), portText.utf8.allSatisfy(Self.isDigitByte), let port = Int(portText) else {
            throw .invalidPort(String(portText))
        }
        guard portRange.contains(port) else { throw .portOutOfRange(port, portRange) }
        self.port = port
    }

    /// Whether the host is an IPv6 address (and so is written in brackets).
    public var isIPv6: Bool { self.host.contains(":") }

    /// The host as it goes into an authority: IPv6 in brackets.
    public var bracketedHost: String { self.isIPv6 ? "[\(self.host)]" : self.host }

    /// `host[:port]`, IPv6 in brackets.
    public var description: String {
        self.port.map { "\(self.bracketedHost):\($0)" } ?? self.bracketedHost
    }

    // MARK: Host syntax

    /// RFC 3986 reg-name / IPv4 characters: unreserved, sub-delims and `%` (pct-encoding).
    static func isRegNameByte(_ byte: UInt8) -> Bool {
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

    private static func isDigitByte(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// RFC 3986 dec-octet: 0–255 in ASCII digits without a sign or a leading zero (which
    /// `inet_aton` would read as octal).
    private static func isDecimalOctet(_ text: Substring) -> Bool {
        let digits = text.utf8
        guard (1...3).contains(digits.count), digits.allSatisfy(Self.isDigitByte),
              digits.count == 1 || digits.first != UInt8(ascii: "0")
        else { return false }
        return UInt8(text) != nil
    }

    /// ASCII letters lowered, every other byte kept (`String.lowercased` would also fold
    /// non-ASCII, which no host here holds).
    private static func lowercasedASCII(_ text: Substring) -> String {
        String(decoding: text.utf8.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    /// The address lowered, the zone (`%eth0`, an interface name) kept as written.
    private static func lowercasedIPv6(_ text: Substring) -> String {
        guard let percent = text.firstIndex(of: "%") else { return Self.lowercasedASCII(text) }
        return Self.lowercasedASCII(text[..<percent]) + text[percent...]
    }
}
