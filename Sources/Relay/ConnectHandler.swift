import FoundationEssentials
import Logging
import NIOCore
import RelayProtocol
import TunnelIO

/// The life of one client connection to the relay, SPEC §6 steps 1–5: read the CONNECT head,
/// open the tunnel's WebSocket, send the head as the first chunk, then hand the connection to a
/// `GlueHandler` pair and step aside.
///
/// The relay never answers the client itself except for errors that happen before the tunnel
/// exists (the head is bad: 400/405/431; the WebSocket cannot be opened: 502/504).
final class ConnectHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case readingHead(ConnectHeadParser)
        /// The WebSocket is being opened; `pending` holds client bytes that followed the head.
        case connecting(ConnectRequest, attempt: WebSocketConnector.Attempt, pending: ByteBuffer, startedAt: NIODeadline)
        /// Glued; this handler is on its way out of the pipeline.
        case tunnelling
        /// An error response is being written, or the client went away.
        case closed
    }

    /// While connecting, stop reading the client once this much early data is queued.
    private static let maximumPendingBytes = 256 * 1024

    private var state = State.readingHead(ConnectHeadParser())
    private var readHeldBack = false
    private let connector: WebSocketConnector
    /// What follows the request line in the first chunk (SPEC §6.4); the same for every tunnel.
    private let headSuffix: String
    private let logger: Logger
    private let connections: ConnectionRegistry
    private let tunnelLog: TunnelLog

    init(
        connector: WebSocketConnector, headSuffix: String,
        connections: ConnectionRegistry, tunnelLog: TunnelLog, logger: Logger
    ) {
        self.connector = connector
        self.connections = connections
        self.tunnelLog = tunnelLog
        self.headSuffix = headSuffix
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        switch self.state {
        case .readingHead(var parser):
            do {
                switch try parser.feed(bytes) {
                case .needMoreData:
                    self.state = .readingHead(parser)
                case .complete(let request):
                    self.openTunnel(for: request, context: context)
                }
            } catch {
                self.tunnelLog.record(
                    target: "-", outcome: .refused(status: error.statusCode, why: "\(error)"),
                    bytesUp: 0, bytesDown: 0, startedAt: .now()
                )
                self.respondAndClose(error.response, context: context)
            }
        case .connecting(let request, let attempt, var pending, let startedAt):
            var bytes = bytes
            pending.writeBuffer(&bytes)
            self.state = .connecting(request, attempt: attempt, pending: pending, startedAt: startedAt)
        case .tunnelling, .closed:
            break
        }
    }

    func read(context: ChannelHandlerContext) {
        // Backpressure before the tunnel exists: early data is buffered up to a bound.
        if case .connecting(_, _, let pending, _) = self.state, pending.readableBytes >= Self.maximumPendingBytes {
            self.readHeldBack = true
            return
        }
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .connecting(let request, let attempt, _, let startedAt) = self.state {
            attempt.cancel()
            self.tunnelLog.record(
                target: request.authority, outcome: .clientLeftDuringHandshake, bytesUp: 0, bytesDown: 0, startedAt: startedAt
            )
        }
        self.state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.logger.debug("client connection error: \(error)")
        context.close(promise: nil)
    }

    private func openTunnel(for request: ConnectRequest, context: ChannelHandlerContext) {
        let attempt = self.connector.connect(on: context.eventLoop)
        self.state = .connecting(request, attempt: attempt, pending: request.leftover, startedAt: .now())
        attempt.future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let webSocket):
                self.tunnelOpened(webSocket, context: context)
            case .failure(let error):
                self.tunnelFailed(error, context: context)
            }
        }
    }

    private func tunnelOpened(_ webSocket: Channel, context: ChannelHandlerContext) {
        guard case .connecting(let request, _, let pending, let startedAt) = self.state else {
            // The client is gone: abandon the WebSocket.
            webSocket.close(promise: nil)
            return
        }
        self.state = .tunnelling

        // SPEC §6.4: the request line as received, then our credentials, as one message.
        var head = context.channel.allocator.buffer(capacity: request.requestLine.utf8.count + self.headSuffix.utf8.count)
        head.writeString(request.requestLine)
        head.writeString(self.headSuffix)
        webSocket.write(head, promise: nil)
        if pending.readableBytes > 0 {
            webSocket.write(pending, promise: nil)
        }
        webSocket.flush()

        let badGateway = context.channel.allocator.buffer(string: RelayResponse.badGateway)
        let (clientSide, gatewaySide) = GlueHandler.matchedPair(firstResponseIfPartnerSentNothing: badGateway)
        do {
            try webSocket.pipeline.syncOperations.addHandler(gatewaySide)
            try context.pipeline.syncOperations.addHandler(clientSide, position: .after(self))
        } catch {
            self.logger.warning("cannot set up tunnel to \(request.authority): \(error)")
            webSocket.close(promise: nil)
            context.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        // Reads may have been held back while nobody could take the bytes: start both sides.
        webSocket.read()
        context.channel.read()
        self.logger.trace("tunnel open", metadata: ["target": "\(request.authority)"])

        // The client's channel closes last whoever ends the tunnel (the glue closes it after the
        // WebSocket), so by then both sides' counts and endings are final. Recorded through the
        // registry so that a shutdown that waits for the connections also waits for this.
        let (tunnelLog, earlyBytes) = (self.tunnelLog, pending.readableBytes)
        let glue = NIOLoopBound((client: clientSide, gateway: gatewaySide), eventLoop: context.eventLoop)
        self.connections.onClose(of: context.channel) {
            let (clientSide, gatewaySide) = glue.value
            let outcome = TunnelOutcome(client: clientSide.ending, gateway: gatewaySide.ending, relayStopping: tunnelLog.isStopping)
            tunnelLog.record(
                target: request.authority, outcome: outcome,
                bytesUp: earlyBytes + gatewaySide.bytesFromPartner, bytesDown: clientSide.bytesFromPartner,
                startedAt: startedAt
            )
        }
    }

    private func tunnelFailed(_ error: Error, context: ChannelHandlerContext) {
        guard case .connecting(let request, _, _, let startedAt) = self.state else { return }
        let (response, status): (String, Int)
        if case WebSocketConnectError.timedOut = error {
            (response, status) = (RelayResponse.gatewayTimeout, 504)
        } else {
            (response, status) = (RelayResponse.badGateway, 502)
        }
        self.logger.warning("tunnel to \(request.authority) failed: \(error)")
        self.tunnelLog.record(
            target: request.authority, outcome: .openFailed(status: status, why: "\(error)"), bytesUp: 0, bytesDown: 0, startedAt: startedAt
        )
        self.respondAndClose(response, context: context)
    }

    private func respondAndClose(_ response: String, context: ChannelHandlerContext) {
        self.state = .closed
        let buffer = context.channel.allocator.buffer(string: response)
        context.writeAndFlush(Self.wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// `\r\nProxy-Authorization: Basic base64(SESSION:TOKEN)\r\n\r\n`, what follows the client's
/// request line in each tunnel's first chunk (SPEC §6.4). Computed once per relay; never logged.
func tunnelHeadSuffix(sessionID: String, token: String) -> String {
    "\r\nProxy-Authorization: Basic \(Data("\(sessionID):\(token)".utf8).base64EncodedString())\r\n\r\n"
}

/// The relay's own responses: only errors, only before a tunnel exists.
enum RelayResponse {
    static let badGateway = "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    static let gatewayTimeout = "HTTP/1.1 504 Gateway Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
}
