import Foundation
import NIOHTTP1

/// The gateway's two HTTP endpoints.
public enum GatewayPath {
    public static let caCertificate = "/v1/code/upstreamproxy/ca-cert"
    public static let webSocket = "/v1/code/upstreamproxy/ws"

    /// The path of a request target, without query or fragment.
    static func path(of uri: String) -> Substring {
        uri.prefix { $0 != "?" && $0 != "#" }
    }
}

/// Who opened a tunnel: the session its bearer token belongs to, and that token.
public struct TunnelIdentity: Sendable, Equatable {
    public var session: String
    public var token: String

    public init(session: String, token: String) {
        self.session = session
        self.token = token
    }
}

/// Why a request to the WebSocket endpoint is not upgraded, as the status it is answered with.
public enum UpgradeRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// No `Authorization: Bearer` header, or a token no session has: 401.
    case invalidToken
    /// `Content-Type` is not `application/proto`: 415.
    case unsupportedContentType
    /// Not GET: 405.
    case methodNotAllowed
    /// Authorised, but not a WebSocket upgrade request at all: 426.
    case notAnUpgrade
    /// An upgrade request NIO's WebSocket upgrader could not accept (missing key, version not 13): 400.
    case malformedUpgrade
    /// The session already has the maximum number of open tunnels: 429.
    case tooManyTunnels(limit: Int)

    public var status: HTTPResponseStatus {
        switch self {
        case .invalidToken: .unauthorized
        case .unsupportedContentType: .unsupportedMediaType
        case .methodNotAllowed: .methodNotAllowed
        case .notAnUpgrade: .upgradeRequired
        case .malformedUpgrade: .badRequest
        case .tooManyTunnels: .tooManyRequests
        }
    }

    public var description: String {
        switch self {
        case .invalidToken: "missing or invalid bearer token"
        case .unsupportedContentType: "Content-Type must be application/proto"
        case .methodNotAllowed: "the WebSocket endpoint takes GET only"
        case .notAnUpgrade: "this endpoint only speaks WebSocket"
        case .malformedUpgrade: "invalid WebSocket upgrade request"
        case .tooManyTunnels(let limit): "this session already has \(limit) open tunnels"
        }
    }
}

/// Decides, from the request head alone, whether a request to the WebSocket endpoint may be
/// upgraded. Pure: the upgrader asks it before upgrading, and the HTTP handler asks it again to
/// explain a refusal with the right status.
public struct WebSocketUpgradePolicy: Sendable {
    public let tokens: TokenTable

    public init(tokens: TokenTable) {
        self.tokens = tokens
    }

    /// Checked in the order a client fixes them: who you are (401), then what you speak (415).
    public func decide(method: HTTPMethod, headers: HTTPHeaders) -> Result<TunnelIdentity, UpgradeRefusal> {
        guard let token = Self.bearerToken(headers), let session = self.tokens.session(forToken: token) else {
            return .failure(.invalidToken)
        }
        guard Self.isProtoContentType(headers) else { return .failure(.unsupportedContentType) }
        guard method == .GET else { return .failure(.methodNotAllowed) }
        return .success(TunnelIdentity(session: session, token: token))
    }

    public func decide(_ head: HTTPRequestHead) -> Result<TunnelIdentity, UpgradeRefusal> {
        self.decide(method: head.method, headers: head.headers)
    }

    /// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive, RFC 6750).
    static func bearerToken(_ headers: HTTPHeaders) -> String? {
        let values = headers["Authorization"]
        guard values.count == 1 else { return nil }
        let parts = values[0].split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    /// `application/proto`, any case, parameters (`; charset=…`) ignored.
    static func isProtoContentType(_ headers: HTTPHeaders) -> Bool {
        let values = headers["Content-Type"]
        guard values.count == 1 else { return false }
        let mediaType = values[0].split(separator: ";", maxSplits: 1).first ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/proto"
    }
}
