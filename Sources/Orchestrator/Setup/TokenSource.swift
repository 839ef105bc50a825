import Logging
import RelayProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum TokenError: Error, CustomStringConvertible, Sendable {
    case fetch(HTTPFetchError)
    case file(FileError)
    /// The source gave nothing but whitespace.
    case empty(source: String)
    /// Bytes that cannot go into an HTTP header: not UTF-8, or control characters.
    case malformed(source: String)

    public var description: String {
        switch self {
        case .fetch(let error):
            return "token URL: \(error)"
        case .file(let error) where error.errno == ENOENT:
            return "\(error): write the token there, or give --token-url, or set RELAY_INIT_TOKEN"
        case .file(let error):
            return error.description
        case .empty(let source):
            return "the token from \(source) is empty"
        case .malformed(let source):
            return "the token from \(source) holds control characters or is not UTF-8 text"
        }
    }
}

/// Where the token comes from. Chosen, not searched (SPEC §2): once chosen, a failure of
/// that source is a setup failure and no other source is tried, so a misconfiguration
/// cannot silently pick up a stale token from somewhere else.
public enum TokenSource: Equatable, Sendable, CustomStringConvertible {
    /// `RELAY_INIT_TOKEN` holds the token itself.
    case environment
    /// `--token-url`: GET it, the body is the token.
    case url(EndpointURL)
    /// `--token-file`: deleted once the relay listens.
    case file(String)

    /// The one spelling of the variable: read here, and removed from the child's environment
    /// (`ProxyEnvironment.childEnvironment`) so the token never reaches the command.
    public static let variable = "RELAY_INIT_TOKEN"

    /// `RELAY_INIT_TOKEN` if set and not blank, else `--token-url` if given, else the token file.
    public static func choose(settings: Settings, environment: [String: String]) -> TokenSource {
        if let value = environment[Self.variable], !value.trimmingWhitespace().isEmpty { return .environment }
        if let url = settings.tokenURL { return .url(url) }
        return .file(settings.tokenFile)
    }

    public var description: String {
        switch self {
        case .environment: return Self.variable
        case .url(let url): return "token URL \(url)"
        case .file(let path): return "token file \(path)"
        }
    }

    /// Reads the token, trimmed of leading and trailing whitespace. The token itself never
    /// appears in an error or a log line.
    public func read(environment: [String: String], fetcher: HTTPFetcher, logger: Logger) throws(TokenError) -> String {
        let bytes: [UInt8]
        switch self {
        case .environment:
            bytes = Array((environment[Self.variable] ?? "").utf8)
        case .url(let url):
            do {
                bytes = try fetcher.get(url)
            } catch {
                throw .fetch(error)
            }
        case .file(let path):
            do {
                let (content, mode) = try FileSystem.readFile(path, limit: 64 * 1024)
                if mode & 0o044 != 0 {
                    logger.warning("token file \(path) is readable by group or others (mode 0\(String(mode & 0o777, radix: 8))): make it 0600 (chmod 600 \(path))")
                }
                bytes = content
            } catch {
                throw .file(error)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformed(source: self.description) }
        let token = text.trimmingWhitespace()
        guard !token.isEmpty else { throw .empty(source: self.description) }
        // It goes into HTTP headers: a CR or LF in it would inject header lines.
        guard !token.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .malformed(source: self.description)
        }
        return token
    }
}
