import Foundation
import NIOHTTP1

/// What a request to ``HTTPSTarget`` asks for, decided from the method and
/// URI alone (no I/O), so the routing rules are readable in one place.
enum TargetRoute: Equatable, Sendable {
    /// `GET /hello`
    case hello
    /// `GET /bytes/N`: N bytes of ``DeterministicBytes``.
    case bytes(count: Int)
    /// `POST` or `PUT /sha256`: hash the request body.
    case sha256
    /// `GET /static/<path>`. `components` are percent-decoded and contain no
    /// `.`/`..`/empty segments; `path` is the URI path as sent (for redirects).
    case staticFile(components: [String], trailingSlash: Bool, path: String)
    case badRequest(String)
    case notFound

    init(method: HTTPMethod, uri: String) {
        // The query is irrelevant to every route (git's dumb protocol sends
        // `info/refs?service=…` and must get the plain file).
        let path = String(uri.prefix { $0 != "?" && $0 != "#" })
        let isRead = method == .GET || method == .HEAD

        switch path {
        case "/hello" where isRead:
            self = .hello
        case "/sha256" where method == .POST || method == .PUT:
            self = .sha256
        case _ where isRead && path.hasPrefix("/bytes/"):
            let digits = path.dropFirst("/bytes/".count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let count = Int(digits), count >= 0 else {
                self = .badRequest("/bytes/N needs a non-negative integer N")
                return
            }
            self = .bytes(count: count)
        case _ where isRead && (path == "/static" || path.hasPrefix("/static/")):
            self = Self.staticRoute(path: path)
        default:
            self = .notFound
        }
    }

    private static func staticRoute(path: String) -> TargetRoute {
        let relative = path.dropFirst("/static".count)
        guard let decoded = String(relative).removingPercentEncoding else {
            return .badRequest("malformed percent-encoding")
        }
        var components: [String] = []
        for segment in decoded.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".":
                continue
            case "..":
                // Never resolve upwards: refusing is simpler than proving a
                // normalised path still lies under the root.
                return .notFound
            case _ where segment.contains("\0"):
                return .notFound
            default:
                components.append(String(segment))
            }
        }
        return .staticFile(components: components, trailingSlash: decoded.hasSuffix("/"), path: path)
    }
}
