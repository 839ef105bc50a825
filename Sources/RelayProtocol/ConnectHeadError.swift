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
