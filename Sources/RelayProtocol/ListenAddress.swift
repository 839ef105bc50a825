import NIOCore

/// `ADDR:PORT` as `--listen` takes it: IPv6 in brackets (`[::1]:0`), port 0–65535 (0: any
/// free port). One value from the command line to the socket.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// Lowercase when parsed; IPv6 without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `127.0.0.1:0`: loopback, any free port (the relay's default, SPEC §2).
    public static let loopbackAnyPort = ListenAddress(host: "127.0.0.1", port: 0)

    /// Parses `ADDR:PORT` with the one `Authority` parser: the port is required and may be 0.
    public init(parsing text: String) throws(ListenAddressError) {
        do throws(AuthorityError) {
            let authority = try Authority(parsing: text, portRequired: true, portRange: 0...65535)
            guard let port = authority.port else { throw AuthorityError.missingPort }
            self.init(host: authority.host, port: port)
        } catch .unbracketedIPv6 {
            // An unbracketed IPv6 address is ambiguous (`::1:80`): refuse rather than guess.
            throw .unbracketedIPv6(text)
        } catch {
            throw .invalid(text)
        }
    }

    /// The same address with another port: the one bound when port 0 was asked for.
    public func with(port: Int) -> ListenAddress {
        ListenAddress(host: self.host, port: port)
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
        Authority(host: self.host, port: self.port).description
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
