import NIOCore

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
