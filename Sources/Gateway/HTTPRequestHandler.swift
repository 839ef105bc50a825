import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Answers every request that is not upgraded to a WebSocket: the CA certificate, the reasons
/// an upgrade was refused (401, 415, 429, …) and 404 for everything else.
///
/// It sits behind NIO's upgrade handler and is removed from the pipeline when an upgrade
/// succeeds, so it only ever sees HTTP.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// The head arrived; the answer is written once the (ignored) body has ended.
        case receivingBody(HTTPRequestHead)
    }

    private let caCertificate: ByteBuffer?
    private let policy: WebSocketUpgradePolicy
    private let logger: Logger
    private var state = State.idle
    /// A refusal the upgrader reported for the request now arriving (see `errorCaught`).
    private var upgraderRefusal: UpgradeRefusal?

    init(caCertificate: ByteBuffer?, policy: WebSocketUpgradePolicy, logger: Logger) {
        self.caCertificate = caCertificate
        self.policy = policy
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (Self.unwrapInboundIn(data), self.state) {
        case (.head(let head), .idle):
            self.state = .receivingBody(head)
        case (.body, .receivingBody):
            break
        case (.end, .receivingBody(let head)):
            self.state = .idle
            self.respond(to: head, context: context)
        case (.head, .receivingBody), (.body, .idle), (.end, .idle):
            // NIO's HTTP decoder never produces this order.
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch error {
        case let refusal as UpgradeRefusal:
            // The upgrader refused for a reason the request head does not show (the session's
            // tunnel limit); NIO then hands the request itself to us.
            self.upgraderRefusal = refusal
        case is NIOWebSocketUpgradeError:
            // The upgrader declined (our policy said no, or the upgrade headers are invalid);
            // the request follows and is answered below.
            break
        default:
            self.logger.debug("HTTP connection failed: \(error)")
            context.close(promise: nil)
        }
    }

    // MARK: Routing

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let refusal = self.upgraderRefusal
        self.upgraderRefusal = nil
        let response: Response
        switch GatewayPath.path(of: head.uri) {
        case GatewayPath.caCertificate:
            response = self.caCertificateResponse(method: head.method)
        case GatewayPath.webSocket:
            response = .refusal(refusal ?? self.refusal(for: head))
        default:
            response = .text(.notFound, "not found\n")
        }
        self.logger.debug(
            "HTTP request",
            metadata: [
                "method": "\(head.method)", "path": "\(GatewayPath.path(of: head.uri))",
                "status": "\(response.status.code)", "peer": "\(context.remoteAddress.map(\.compactDescription) ?? "?")",
            ]
        )
        self.write(response, keepAlive: head.isKeepAlive && response.keepsConnection, version: head.version, context: context)
    }

    private func caCertificateResponse(method: HTTPMethod) -> Response {
        guard method == .GET || method == .HEAD else { return .methodNotAllowed(allow: "GET, HEAD") }
        guard let caCertificate else { return .text(.notFound, "no CA certificate is configured on this gateway\n") }
        return Response(
            status: .ok, headers: [("Content-Type", "application/x-pem-file")], body: caCertificate, omitBody: method == .HEAD
        )
    }

    /// Why the WebSocket endpoint did not upgrade this request: the policy's reason if it has
    /// one; otherwise the request was acceptable but not a (valid) WebSocket upgrade.
    private func refusal(for head: HTTPRequestHead) -> UpgradeRefusal {
        switch self.policy.decide(head) {
        case .failure(let refusal):
            return refusal
        case .success:
            let upgrade = head.headers[canonicalForm: "upgrade"].map { $0.lowercased() }
            return upgrade.contains("websocket") ? .malformedUpgrade : .notAnUpgrade
        }
    }

    // MARK: Writing

    private struct Response {
        var status: HTTPResponseStatus
        var headers: [(String, String)]
        var body: ByteBuffer
        var omitBody = false
        /// Refusals on the WebSocket endpoint end the connection: the client sent an upgrade
        /// request and has no use for the connection once it is refused.
        var keepsConnection = true

        static func text(_ status: HTTPResponseStatus, _ text: String, headers: [(String, String)] = []) -> Response {
            Response(
                status: status, headers: headers + [("Content-Type", "text/plain; charset=utf-8")], body: ByteBuffer(string: text)
            )
        }

        static func methodNotAllowed(allow: String) -> Response {
            .text(.methodNotAllowed, "method not allowed\n", headers: [("Allow", allow)])
        }

        static func refusal(_ refusal: UpgradeRefusal) -> Response {
            var headers: [(String, String)] = []
            switch refusal {
            case .invalidToken: headers.append(("WWW-Authenticate", "Bearer"))
            case .methodNotAllowed: headers.append(("Allow", "GET"))
            case .notAnUpgrade: headers.append(("Upgrade", "websocket"))
            case .unsupportedContentType, .malformedUpgrade, .tooManyTunnels: break
            }
            var response = Response.text(refusal.status, "\(refusal)\n", headers: headers)
            response.keepsConnection = false
            return response
        }
    }

    private func write(_ response: Response, keepAlive: Bool, version: HTTPVersion, context: ChannelHandlerContext) {
        var headers = HTTPHeaders(response.headers)
        headers.add(name: "Content-Length", value: String(response.body.readableBytes))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: version, status: response.status, headers: headers)
        context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
        if !response.omitBody {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let written = context.writeAndFlush(Self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
