import NIOCore

/// A parsed HTTP/1.x `CONNECT` request head.
public struct ConnectRequest: Equatable, Sendable {
    /// The request line exactly as received, without its CRLF (`CONNECT host:443 HTTP/1.1`).
    public var requestLine: String
    /// The method as written (already checked to be CONNECT, in any case).
    public var method: String
    /// Target host; IPv6 literals without their brackets.
    public var host: String
    public var port: Int
    /// `HTTP/1.0`, `HTTP/1.1`, … as written.
    public var version: String
    /// Header fields in order, names and values as written (values trimmed).
    public var headers: [(name: String, value: String)]
    /// Bytes that followed the head in the input (the start of the tunnelled stream).
    public var leftover: ByteBuffer

    /// The first value of a header field, matched case-insensitively.
    public func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// `host:port`, with brackets around IPv6 literals.
    public var authority: String { ConnectTarget.format(host: self.host, port: self.port) }

    public static func == (lhs: ConnectRequest, rhs: ConnectRequest) -> Bool {
        lhs.requestLine == rhs.requestLine && lhs.method == rhs.method && lhs.host == rhs.host
            && lhs.port == rhs.port && lhs.version == rhs.version && lhs.leftover == rhs.leftover
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// Why a request head was refused, as the HTTP status SPEC §6.1 gives for it.
public enum ConnectHeadError: Error, Equatable, CustomStringConvertible {
    /// 8,192 bytes arrived without a complete head.
    case headTooLarge
    /// Not HTTP/1.x, or not parsable as a request head.
    case malformed(String)
    /// A method other than CONNECT.
    case methodNotAllowed(String)
    /// The target is not `host:port` with a port in 1–65535.
    case invalidTarget(String)

    public var statusCode: Int {
        switch self {
        case .headTooLarge: 431
        case .malformed, .invalidTarget: 400
        case .methodNotAllowed: 405
        }
    }

    public var reasonPhrase: String {
        switch self {
        case .headTooLarge: "Request Header Fields Too Large"
        case .malformed, .invalidTarget: "Bad Request"
        case .methodNotAllowed: "Method Not Allowed"
        }
    }

    /// The complete response the relay writes before closing the connection.
    public var response: String {
        var head = "HTTP/1.1 \(self.statusCode) \(self.reasonPhrase)\r\n"
        if case .methodNotAllowed = self { head += "Allow: CONNECT\r\n" }
        return head + "Connection: close\r\nContent-Length: 0\r\n\r\n"
    }

    public var description: String {
        switch self {
        case .headTooLarge: "request head larger than \(ConnectHeadParser.maximumHeadLength) bytes"
        case .malformed(let why): "malformed request head: \(why)"
        case .methodNotAllowed(let method): "method \(method) not allowed, only CONNECT"
        case .invalidTarget(let target): "invalid CONNECT target \"\(target)\": expected host:port"
        }
    }
}

/// Incremental parser for the request head of SPEC §6.1: feed it bytes as they arrive,
/// split anywhere, until it returns a request or throws the error to answer with.
public struct ConnectHeadParser: Sendable {
    /// The head, including its final CRLF CRLF, must fit in this many bytes.
    public static let maximumHeadLength = 8192

    public enum Result: Equatable, Sendable {
        case needMoreData
        case complete(ConnectRequest)
    }

    private var buffer: ByteBuffer
    /// Where the search for CRLF CRLF resumes, so each byte is scanned about once.
    private var scanned = 0

    public init() {
        self.buffer = ByteBuffer()
    }

    /// Appends `bytes` and tries to complete the head. After `.complete` or an error the
    /// parser is done; further calls are a programming error.
    public mutating func feed(_ bytes: ByteBuffer) throws(ConnectHeadError) -> Result {
        var bytes = bytes
        self.buffer.writeBuffer(&bytes)
        let view = self.buffer.readableBytesView
        let searchLimit = min(view.count, Self.maximumHeadLength)
        var index = max(0, self.scanned - 3)
        while index + 3 < searchLimit {
            let base = view.startIndex + index
            if view[base] == 13, view[base + 1] == 10, view[base + 2] == 13, view[base + 3] == 10 {
                let headLength = index + 4
                let head = self.buffer.getString(at: self.buffer.readerIndex, length: headLength - 4) ?? ""
                let leftover = self.buffer.getSlice(at: self.buffer.readerIndex + headLength, length: view.count - headLength)!
                return .complete(try Self.parse(head: head, leftover: leftover))
            }
            index += 1
        }
        self.scanned = index
        if view.count >= Self.maximumHeadLength { throw .headTooLarge }
        return .needMoreData
    }

    static func parse(head: String, leftover: ByteBuffer) throws(ConnectHeadError) -> ConnectRequest {
        // Lines are CRLF-separated; a bare CR or LF inside a line is not HTTP.
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let requestLine = String(lines[0])
        guard !requestLine.contains("\r"), !requestLine.contains("\n") else { throw .malformed("bare CR or LF in request line") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw .malformed("request line is not \"METHOD TARGET HTTP/1.x\"")
        }
        let method = String(parts[0])
        let target = String(parts[1])
        let version = String(parts[2])
        guard Self.isHTTP1(version) else { throw .malformed("version \(version) is not HTTP/1.x") }
        guard method.allSatisfy(\.isHTTPTokenCharacter) else { throw .malformed("invalid method") }
        guard method.uppercased() == "CONNECT" else { throw .methodNotAllowed(method) }
        guard let (host, port) = ConnectTarget.parse(target) else { throw .invalidTarget(target) }

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw .malformed("header line without a colon") }
            let name = line[..<colon]
            guard !name.isEmpty, name.allSatisfy(\.isHTTPTokenCharacter) else {
                throw .malformed("invalid header name")
            }
            let value = line[line.index(after: colon)...].trimmingHTTPWhitespace()
            guard !value.contains("\r"), !value.contains("\n") else { throw .malformed("bare CR or LF in a header") }
            headers.append((String(name), String(value)))
        }
        return ConnectRequest(
            requestLine: requestLine, method: method, host: host, port: port,
            version: version, headers: headers, leftover: leftover
        )
    }

    private static func isHTTP1(_ version: String) -> Bool {
        let utf8 = Array(version.utf8)
        guard utf8.count == 8, version.uppercased().hasPrefix("HTTP/1.") else { return false }
        return (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(utf8[7])
    }
}

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

extension Character {
    /// RFC 9110 `tchar`.
    fileprivate var isHTTPTokenCharacter: Bool {
        guard let ascii = self.asciiValue else { return false }
        switch ascii {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(ascii)
        }
    }
}

extension Substring {
    fileprivate func trimmingHTTPWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
