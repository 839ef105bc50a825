import NIOCore

/// A parsed HTTP/1.x `CONNECT` request head.
public struct ConnectRequest: Equatable, Sendable {
    /// The request line exactly as received, without its CRLF (`CONNECT host:443 HTTP/1.1`).
    public var requestLine: String
    /// The method as written (already checked to be CONNECT, in any case).
    public var method: String
    /// Target host, lowercase; IPv6 literals without their brackets.
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
