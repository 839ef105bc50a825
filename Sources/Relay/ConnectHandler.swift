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
///
/// The client channel allows half-closure, so a client's EOF is an event here, in every state:
/// before the head it ends the connection; while the WebSocket is being opened it is kept with
/// the early data, which is still sent once the tunnel opens, and then the tunnel closes
/// (SPEC §6.2, §6.8); once glued the `GlueHandler` handles it.
final class ConnectHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case readingHead(ConnectHeadParser)
        /// The WebSocket is being opened.
        case connecting(Connecting)
        /// Glued; this handler is on its way out of the pipeline.
        case tunnelling
        /// An error response is being written, or the client went away.
        case closed
    }

    /// A tunnel whose WebSocket is being opened.
    private struct Connecting {
        var request: ConnectRequest
        var dial: TunnelDialer.Dial
        /// Client bytes that followed the head, in order: sent once the WebSocket is open.
        var pending: ByteBuffer
        var startedAt: NIODeadline
        /// The client sent EOF: once `pending` is sent, the tunnel closes.
        var inputClosed = false
    }

    /// While connecting, stop reading the client once this much early data is queued.
    static let maximumPendingBytes = 256 * 1024

    private var state = State.readingHead(ConnectHeadParser())
    private let dialer: TunnelDialer
    /// What follows the request line in the first chunk (SPEC §6.4); the same for every tunnel.
    private let headSuffix: String
    private let logger: Logger
    private let connections: RelayConnections
    private let tunnelLog: TunnelLog

    init(
        dialer: TunnelDialer, headSuffix: String,
        connections: RelayConnections, tunnelLog: TunnelLog, logger: Logger
    ) {
        self.dialer = dialer
        self.connections = connections
        self.tunnelLog = tunnelLog
        self.headSuffix = headSuffix
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        switch self.state {
        case .readingHead(var parser):
            self.state = .closed  // not a real transition: keeps the parser's buffer uniquely referenced
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
        case .connecting(var connecting):
            self.state = .closed  // not a real transition: keeps `pending` uniquely referenced
            connecting.pending.writeBuffer(&bytes)
            self.state = .connecting(connecting)
        case .tunnelling, .closed:
            break
        }
    }

    func read(context: ChannelHandlerContext) {
        // Backpressure before the tunnel exists: early data is buffered up to a bound. The read
        // is issued again once glued.
        if case .connecting(let connecting) = self.state, connecting.pending.readableBytes >= Self.maximumPendingBytes {
            return
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else {
            return context.fireUserInboundEventTriggered(event)
        }
        switch self.state {
        case .readingHead:
            // EOF before a complete head: there is nothing to tunnel.
            self.state = .closed
            context.close(promise: nil)
        case .connecting(var connecting) where connecting.pending.readableBytes > 0:
            // The early data still goes through (SPEC §6.2), then the tunnel closes (§6.8).
            self.state = .closed  // not a real transition: keeps `pending` uniquely referenced
            connecting.inputClosed = true
            self.state = .connecting(connecting)
        case .connecting:
            // Nothing to deliver: abandon the WebSocket (`channelInactive` cancels the dial).
            context.close(promise: nil)
        case .tunnelling, .closed:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .connecting(let connecting) = self.state {
            connecting.dial.cancel()
            self.tunnelLog.record(
                target: connecting.request.authority, outcome: .clientLeftDuringHandshake,
                bytesUp: 0, bytesDown: 0, startedAt: connecting.startedAt
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
        let dial = self.dialer.dial(context.eventLoop)
        self.state = .connecting(Connecting(request: request, dial: dial, pending: request.leftover, startedAt: .now()))
        dial.future.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let webSocket):
                self.tunnelOpened(webSocket, context: context)
            case .failure(let error):
                self.tunnelFailed(error, context: context)
            }
        }
    }

    private func tunnelOpened(_ webSocket: Channel, context: ChannelHandlerContext) {
        guard case .connecting(let connecting) = self.state else {
            // The client is gone: abandon the WebSocket.
            webSocket.close(promise: nil)
            return
        }
        self.state = .tunnelling
        let (request, pending) = (connecting.request, connecting.pending)

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
        let client = context.channel
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        self.logger.trace("tunnel open", metadata: ["target": "\(request.authority)"])

        // The client's channel closes last whoever ends the tunnel (the glue closes it after the
        // WebSocket), so by then both sides' counts and endings are final. Recorded through the
        // registry so that a shutdown that waits for the connections also waits for this.
        let (tunnelLog, earlyBytes, startedAt) = (self.tunnelLog, pending.readableBytes, connecting.startedAt)
        let glue = NIOLoopBound((client: clientSide, gateway: gatewaySide), eventLoop: context.eventLoop)
        self.connections.onClose(of: client) {
            let (clientSide, gatewaySide) = glue.value
            let outcome = RelayTunnelOutcome(client: clientSide.ending, gateway: gatewaySide.ending, relayStopping: tunnelLog.isStopping)
            tunnelLog.record(
                target: request.authority, outcome: outcome,
                bytesUp: earlyBytes + gatewaySide.bytesFromPartner, bytesDown: clientSide.bytesFromPartner,
                startedAt: startedAt
            )
        }

        // Reads may have been held back while nobody could take the bytes: start both sides.
        webSocket.read()
        if connecting.inputClosed {
            // The client's EOF came while the WebSocket was being opened: the glue ends the
            // tunnel as it does for an EOF once glued, after the early data written above.
            client.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        } else {
            client.read()
        }
    }

    private func tunnelFailed(_ error: Error, context: ChannelHandlerContext) {
        guard case .connecting(let connecting) = self.state else { return }
        let (response, status): (String, Int)
        if case WebSocketConnectError.timedOut = error {
            (response, status) = (RelayResponse.gatewayTimeout, 504)
        } else {
            (response, status) = (RelayResponse.badGateway, 502)
        }
        self.logger.warning("tunnel to \(connecting.request.authority) failed: \(error)")
        self.tunnelLog.record(
            target: connecting.request.authority, outcome: .openFailed(status: status, why: "\(error)"),
            bytesUp: 0, bytesDown: 0, startedAt: connecting.startedAt
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
