import Foundation
import Logging
import NIOCore
import NIOPosix
import RelayProtocol
import TunnelIO

/// The gateway's side of one tunnel, on the WebSocket channel after `ChunkFrameHandler`:
/// reads the CONNECT head from the first chunk(s), checks credentials and policy, dials the
/// target, answers with a status line inside the tunnel, then glues the two channels together.
///
/// Pipeline once tunnelling: `… ChunkFrameHandler ⇄ TunnelHandler ⇄ GlueHandler` on the
/// WebSocket channel, `GlueHandler` on the target channel. This handler then only passes data
/// through, and stays to log how the tunnel ended.
final class TunnelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Settings: Sendable {
        var accessPolicy: AccessPolicy
        var tokens: TokenTable
        var mapHost: [String: String]
        var dialer: Dialer
    }

    /// Opens the connection to a target on the given event loop (the tunnel's own: the glue
    /// needs both channels on one loop). A seam so the state machine can be tested without sockets.
    struct Dialer: Sendable {
        var timeout: TimeAmount
        var connect: @Sendable (_ host: String, _ port: Int, _ eventLoop: EventLoop) -> EventLoopFuture<Channel>

        static func tcp(timeout: TimeAmount) -> Dialer {
            // Targets are whatever clients ask for: no answer is kept, but an IP address is
            // answered without a lookup.
            let resolver = CachingResolver(timeToLive: .zero)
            return Dialer(timeout: timeout) { host, port, eventLoop in
                ClientBootstrap(group: eventLoop)
                    .resolver(resolver.resolver(on: eventLoop))
                    .connectTimeout(timeout)
                    .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .channelOption(.writeBufferWaterMark, value: TunnelTuning.writeBufferWaterMark)
                    .channelOption(.recvAllocator, value: TunnelTuning.receiveAllocator)
                    // Nothing may be read from the target before the glue is in place, or it would be lost.
                    .channelOption(.autoRead, value: false)
                    .connect(host: host, port: port)
            }
        }
    }

    /// Tunnel bytes held while the target is being dialled: the client may start sending before
    /// the 200 (its early data must reach the target in order), but only this much before the
    /// WebSocket is no longer read.
    static let maximumPendingBytes = 1024 * 1024

    private struct Dialling {
        /// Bytes after the head, in arrival order.
        var pending: [ByteBuffer]
        var pendingBytes: Int
        /// A `read()` held back because `pending` is full; issued once tunnelling.
        var readHeld: Bool
        /// Why the tunnel is ending, when that is known before the WebSocket closes (an error,
        /// the gateway's shutdown); logged when it closes.
        var outcome: GatewayTunnelOutcome?

        mutating func append(_ buffer: ByteBuffer) {
            self.pending.append(buffer)
            self.pendingBytes += buffer.readableBytes
        }
    }

    private struct Tunnelling {
        var targetChannel: Channel
        var earlyBytes: Int
        /// On the WebSocket channel: counts bytes from the target.
        var webSocketGlue: GlueHandler
        /// On the target channel: counts bytes from the client.
        var targetGlue: GlueHandler
        /// As in `Dialling`.
        var outcome: GatewayTunnelOutcome?
    }

    private enum State {
        case awaitingHead(ConnectHeadParser)
        case dialling(Dialling)
        case tunnelling(Tunnelling)
        /// Refused, or ended (an error, the gateway's shutdown) before the head was complete:
        /// closing, for this outcome, logged when the WebSocket closes. Whatever arrives is dropped.
        case ending(GatewayTunnelOutcome)
        /// The WebSocket closed while the target was being dialled: the bytes that came before
        /// its close still go to the target once it answers, then the target is closed.
        case closedWhileDialling(pending: [ByteBuffer])
        /// The WebSocket closed and the tunnel is logged; whatever still arrives is dropped.
        case closed
    }

    private let identity: TunnelIdentity
    private let settings: Settings
    private var logger: Logger
    private var state = State.awaitingHead(ConnectHeadParser())
    private let startedAt = NIODeadline.now()

    init(identity: TunnelIdentity, settings: Settings, logger: Logger) {
        self.identity = identity
        self.settings = settings
        self.logger = logger
        self.logger[metadataKey: "session"] = "\(identity.session)"
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Self.unwrapInboundIn(data)
        switch self.state {
        case .awaitingHead(var parser):
            self.state = .closed  // not a real transition: keeps the parser's buffer uniquely referenced
            do {
                switch try parser.feed(bytes) {
                case .needMoreData:
                    self.state = .awaitingHead(parser)
                case .complete(let request):
                    self.handle(request, context: context)
                }
            } catch {
                self.refuse(.badRequest(error), reason: "\(error)", context: context)
            }
        case .dialling(var dialling):
            self.state = .closed  // not a real transition: avoids copying `pending` on append
            dialling.append(bytes)
            self.state = .dialling(dialling)
        case .tunnelling:
            context.fireChannelRead(data)
        case .ending, .closedWhileDialling, .closed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .tunnelling = self.state {
            context.fireChannelReadComplete()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch self.state {
        case .awaitingHead:
            self.logEnd(.closedBeforeHead)
            self.state = .closed
        case .dialling(let dialling):
            // The dial completes later, and the target it opens gets the bytes that came before
            // the close, then EOF (see `dialCompleted`), as a glued target would: a reset after
            // the relay's goodbye, or the gateway's shutdown, takes nothing already received.
            self.logEnd(dialling.outcome ?? .clientClosed)
            self.state = .closedWhileDialling(pending: dialling.pending)
        case .tunnelling(let tunnel):
            // Inactive events run head to tail: if the target is still up, the client left first.
            self.logEnd(tunnel.outcome ?? (tunnel.targetChannel.isActive ? .clientClosed : .targetClosed), tunnel: tunnel)
            self.state = .closed
        case .ending(let outcome):
            self.logEnd(outcome)
            self.state = .closed
        case .closedWhileDialling, .closed:
            break
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? ChunkFrameError {
            // ChunkFrameHandler already sends a close frame and closes this channel only.
            self.finish(.invalidMessage("\(error)"))
        } else {
            self.finish(.failed("\(error)"))
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is GatewayShutdownEvent {
            self.finish(.gatewayShutdown)
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if case .dialling(var dialling) = self.state, dialling.pendingBytes >= Self.maximumPendingBytes {
            dialling.readHeld = true
            self.state = .dialling(dialling)
        } else {
            context.read()
        }
    }

    // MARK: The CONNECT head

    private func handle(_ request: ConnectRequest, context: ChannelHandlerContext) {
        self.logger[metadataKey: "target"] = "\(request.authority)"
        guard let credentials = request.header("Proxy-Authorization").flatMap(BasicCredentials.init(headerValue:)),
              self.accepts(credentials)
        else {
            let reason = "Proxy-Authorization does not match the session"
            return self.refuse(.proxyAuthenticationRequired, reason: reason, context: context)
        }
        guard self.settings.accessPolicy.permits(host: request.host, port: request.port) else {
            return self.refuse(.forbidden, reason: "denied by policy", context: context)
        }

        var dialling = Dialling(pending: [], pendingBytes: 0, readHeld: false, outcome: nil)
        if request.leftover.readableBytes > 0 { dialling.append(request.leftover) }
        self.state = .dialling(dialling)

        let dialHost = self.settings.mapHost[request.host.lowercased()] ?? request.host
        self.logger.debug("dialling", metadata: ["address": "\(ConnectTarget.format(host: dialHost, port: request.port))"])
        self.settings.dialer.connect(dialHost, request.port, context.eventLoop)
            .hop(to: context.eventLoop)
            .assumeIsolated()
            .whenComplete { result in self.dialCompleted(result, context: context) }
    }

    /// The Basic credentials must name a session whose token is the bearer token that opened
    /// this WebSocket: one token cannot open tunnels on another session's behalf.
    private func accepts(_ credentials: BasicCredentials) -> Bool {
        let sessionMatches = self.settings.tokens.isValid(session: credentials.session, token: credentials.token)
        let tokenMatches = TokenTable.constantTimeEquals(Array(credentials.token.utf8), Array(self.identity.token.utf8))
        return sessionMatches && tokenMatches
    }

    // MARK: Dialling

    private func dialCompleted(_ result: Result<Channel, Error>, context: ChannelHandlerContext) {
        if case .closedWhileDialling(let pending) = self.state {
            self.state = .closed
            if case .success(let targetChannel) = result {
                Self.deliver(pending, thenClose: targetChannel)
            }
            return
        }
        guard case .dialling(let dialling) = self.state else {
            // No longer waiting for this dial (not reached in practice: the states that dial are above).
            if case .success(let channel) = result { channel.close(promise: nil) }
            return
        }
        switch result {
        case .success(let targetChannel):
            do {
                try self.startTunnelling(dialling, to: targetChannel, context: context)
            } catch {
                targetChannel.close(promise: nil)
                self.refuse(.badGateway, reason: "cannot set up the target connection: \(error)", context: context)
            }
        case .failure(ChannelError.connectTimeout):
            let reason = "dial timed out after \(Self.seconds(self.settings.dialer.timeout)) s"
            self.refuse(.gatewayTimeout, reason: reason, context: context)
        case .failure(let error):
            self.refuse(.badGateway, reason: "dial failed: \(error)", context: context)
        }
    }

    private func startTunnelling(_ dialling: Dialling, to targetChannel: Channel, context: ChannelHandlerContext) throws {
        let (webSocketGlue, targetGlue) = GlueHandler.matchedPair()
        try targetChannel.pipeline.syncOperations.addHandler(targetGlue)
        try context.pipeline.syncOperations.addHandler(webSocketGlue, position: .after(self))
        let tunnel = Tunnelling(
            targetChannel: targetChannel, earlyBytes: dialling.pendingBytes,
            webSocketGlue: webSocketGlue, targetGlue: targetGlue, outcome: dialling.outcome
        )
        self.state = .tunnelling(tunnel)
        self.logger.debug("tunnel established")

        context.writeAndFlush(Self.wrapOutboundOut(TunnelResponse.established.buffer), promise: nil)
        for buffer in dialling.pending {
            targetChannel.write(buffer, promise: nil)
        }
        targetChannel.flush()

        // Reading from the target starts now. (Switching autoRead on issues the first read
        // directly; every later one passes the glue and so waits while the WebSocket is not writable.)
        try targetChannel.syncOptions?.setOption(.autoRead, value: true)
        if dialling.readHeld {
            context.channel.read()
        }
    }

    /// The WebSocket is gone: the target gets what the client sent before it closed, then EOF.
    private static func deliver(_ pending: [ByteBuffer], thenClose targetChannel: Channel) {
        guard !pending.isEmpty else { return targetChannel.close(promise: nil) }
        for buffer in pending {
            targetChannel.write(buffer, promise: nil)
        }
        targetChannel.flush()
        targetChannel.closeAfterPendingWrites()
    }

    // MARK: Ending

    private func refuse(_ response: TunnelResponse, reason: String, context: ChannelHandlerContext) {
        self.state = .ending(.refused(status: response.statusCode, reason: reason))
        // One chunk, then ChunkFrameHandler's close: a close frame, then the connection closes.
        context.writeAndFlush(Self.wrapOutboundOut(response.buffer), promise: nil)
        context.close(promise: nil)
    }

    /// Records the first reason the tunnel ended; later ones are consequences of it.
    private func finish(_ outcome: GatewayTunnelOutcome) {
        switch self.state {
        case .awaitingHead:
            self.state = .ending(outcome)
        case .dialling(var dialling) where dialling.outcome == nil:
            dialling.outcome = outcome
            self.state = .dialling(dialling)
        case .tunnelling(var tunnel) where tunnel.outcome == nil:
            tunnel.outcome = outcome
            self.state = .tunnelling(tunnel)
        case .dialling, .tunnelling, .ending, .closedWhileDialling, .closed:
            break
        }
    }

    private func logEnd(_ outcome: GatewayTunnelOutcome, tunnel: Tunnelling? = nil) {
        var metadata: Logger.Metadata = [
            "outcome": "\(outcome)",
            "duration": "\(Self.seconds(.now() - self.startedAt)) s",
        ]
        if let tunnel {
            metadata["bytes_up"] = "\(tunnel.earlyBytes + tunnel.targetGlue.bytesFromPartner)"
            metadata["bytes_down"] = "\(tunnel.webSocketGlue.bytesFromPartner)"
        }
        switch outcome {
        case .clientClosed, .targetClosed, .closedBeforeHead, .gatewayShutdown:
            self.logger.info("tunnel closed", metadata: metadata)
        case .refused, .invalidMessage, .failed:
            self.logger.notice("tunnel closed", metadata: metadata)
        }
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        String(format: "%.3f", Double(amount.nanoseconds) / 1e9)
    }
}

/// What the gateway answers inside the tunnel, where the relay passes it on verbatim to its client.
enum TunnelResponse {
    case established
    case badRequest(ConnectHeadError)
    case proxyAuthenticationRequired
    case forbidden
    case badGateway
    case gatewayTimeout

    var statusCode: Int {
        switch self {
        case .established: 200
        case .badRequest(let error): error.statusCode
        case .proxyAuthenticationRequired: 407
        case .forbidden: 403
        case .badGateway: 502
        case .gatewayTimeout: 504
        }
    }

    var text: String {
        switch self {
        case .established: "HTTP/1.1 200 Connection Established\r\n\r\n"
        case .badRequest(let error): error.response
        case .proxyAuthenticationRequired:
            "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"relay-gateway\"\r\n"
                + "Connection: close\r\nContent-Length: 0\r\n\r\n"
        case .forbidden: Self.error("403 Forbidden")
        case .badGateway: Self.error("502 Bad Gateway")
        case .gatewayTimeout: Self.error("504 Gateway Timeout")
        }
    }

    var buffer: ByteBuffer { ByteBuffer(string: self.text) }

    private static func error(_ status: String) -> String {
        "HTTP/1.1 \(status)\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    }
}
