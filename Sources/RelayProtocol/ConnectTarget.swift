/// `host:port` targets as CONNECT writes them (RFC 9110 §9.3.6: the authority form), read by
/// the one `Authority` parser: a port 1–65535 is required, IPv6 in brackets.
public enum ConnectTarget {
    /// Splits `host:port` or `[v6]:port`; nil unless the host is plausible and the port is 1–65535.
    /// The host is lowercase, IPv6 without brackets.
    public static func parse(_ target: String) -> (host: String, port: Int)? {
        guard let authority = try? Authority(parsing: target, portRequired: true), let port = authority.port else {
            return nil
        }
        return (authority.host, port)
    }

    /// `host:port`, bracketing IPv6 literals.
    public static func format(host: String, port: Int) -> String {
        Authority(host: host, port: port).description
    }
}
