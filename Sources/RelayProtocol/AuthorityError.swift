/// Why text is not an `Authority`. Callers wrap it in their own error, whose message names
/// the option or request the text came from; this says what is wrong with the text itself.
public enum AuthorityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing before the port (`:443`, `[]:443`, an empty string).
    case emptyHost
    /// `[` without a closing `]` (`[::1:443`).
    case unclosedBracket
    /// Something other than `:PORT` after the `]` (`[::1]443`).
    case textAfterBracket
    /// The text in brackets is not an IPv6 address (`[127.0.0.1]`, `[1::2::3]`).
    case notIPv6(String)
    /// An IPv6 address without brackets (`::1:80`), or more than one `:`.
    case unbracketedIPv6
    /// A character no host holds (`/`, `@`, a space, anything outside ASCII).
    case invalidHostCharacter(Character)
    /// `host` alone where `host:port` is required.
    case missingPort
    /// The port is not one to five ASCII digits (`a.test:`, `a.test:http`, `a.test:+443`).
    case invalidPort(String)
    /// The port is outside the range allowed (`0` for a CONNECT target, `65536`).
    case portOutOfRange(Int, ClosedRange<Int>)

    public var description: String {
        switch self {
        case .emptyHost:
            "no host"
        case .unclosedBracket:
            "\"[\" without a closing \"]\""
        case .textAfterBracket:
            "only :PORT may follow an IPv6 address in brackets"
        case .notIPv6(let text):
            "\"\(text)\" in brackets is not an IPv6 address"
        case .unbracketedIPv6:
            "more than one \":\": write IPv6 addresses in brackets, e.g. [::1]:8443"
        case .invalidHostCharacter(let character):
            "the host holds \(String(character).debugDescription), which no host name or address does"
        case .missingPort:
            "no port: write HOST:PORT"
        case .invalidPort(let text):
            "the port \"\(text)\" is not a number"
        case .portOutOfRange(let port, let range):
            "the port \(port) is outside \(range.lowerBound)-\(range.upperBound)"
        }
    }
}
