/// Why text is not an `EndpointURL`.
public enum EndpointURLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A blank or a control character anywhere (`https://gw example`).
    case whitespaceOrControlCharacter
    /// No `://` (`gw.example`).
    case missingScheme
    /// A scheme other than the ones asked for (lowercased: `ftp`, or `https` where `wss` is wanted).
    case unsupportedScheme(String)
    /// The part between `://` and the path is not `[userinfo@]host[:port]`.
    case invalidAuthority(AuthorityError)

    public var description: String {
        switch self {
        case .whitespaceOrControlCharacter: "a URL holds no blanks or control characters"
        case .missingScheme: "no scheme: write SCHEME://HOST"
        case .unsupportedScheme(let scheme): "the scheme \"\(scheme)\" is not one this option takes"
        case .invalidAuthority(let error): "\(error)"
        }
    }
}
