import Logging
import NIOCore
import NIOWebSocket
import RelayProtocol

/// Turns a WebSocket channel into a byte stream: inbound binary messages are decoded as chunks
/// and their data passed on as `ByteBuffer`s; outbound `ByteBuffer`s leave as chunks of at most
/// 512 KiB. It also owns the WebSocket housekeeping of a tunnel: pings answered, a keepalive
/// empty chunk whenever NIO's `IdleStateHandler` reports the outbound side idle, and a close
/// frame sent before the connection goes away.
///
/// Closing is a handshake (RFC 6455 §7.1.1): when this side says goodbye first, it keeps reading
/// (and discards what arrives) until the peer's close frame or EOF, for at most
/// `closeHandshakeTimeout`, and only then closes the socket. Closing at once would make the
/// kernel answer the peer's next write with a reset, and a reset makes the peer's kernel drop
/// what it had received but not read yet: the last chunks of the tunnel (issue 10, part 8).
///
/// It expects the pipeline `addTunnelFrameHandlers` builds: NIO's
/// `NIOWebSocketFrameAggregator` in front of it assembles fragmented messages (and passes
/// unfragmented ones through untouched), and its errors arrive here.
///
/// Invalid input (a message that is not a chunk, a text frame, a message over the size limit)
/// closes this channel only, with a log line: one tunnel's failure never touches another.
public final class ChunkFrameHandler: ChannelDuplexHandler {
    public typealias InboundIn = WebSocketFrame
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = WebSocketFrame

    public enum Role: Sendable {
        /// The relay: masks every frame it sends (RFC 6455 §5.3).
        case client
        /// The gateway: sends unmasked frames.
        case server
    }

    public struct Configuration: Sendable {
        public var role: Role
        /// Largest message accepted, assembled from fragments if need be.
        public var maximumMessageSize: Int
        /// Most fragments one message may arrive in.
        public var maximumFragmentCount: Int
        /// Send an empty chunk after this long without outbound traffic; nil = never.
        public var keepaliveInterval: TimeAmount?
        /// After our close frame, how long to wait for the peer's before closing the socket.
        public var closeHandshakeTimeout: TimeAmount

        public init(
            role: Role,
            maximumMessageSize: Int = ChunkFrameHandler.defaultMaximumMessageSize,
            maximumFragmentCount: Int = ChunkFrameHandler.defaultMaximumFragmentCount,
            keepaliveInterval: TimeAmount? = nil,
            closeHandshakeTimeout: TimeAmount = ChunkFrameHandler.defaultCloseHandshakeTimeout
        ) {
            self.role = role
            self.maximumMessageSize = maximumMessageSize
            self.maximumFragmentCount = maximumFragmentCount
            self.keepaliveInterval = keepaliveInterval
            self.closeHandshakeTimeout = closeHandshakeTimeout
        }
    }

    /// A full-size chunk plus generous room for a peer that frames differently.
    public static let defaultMaximumMessageSize = 2 * Chunk.maximumDataLength + 64

    /// Our peers send one frame per message; a full-size chunk in this many fragments means
    /// fragments of 512 bytes on average. More is refused (1008), as each one held until the
    /// message is complete pins its read buffer.
    public static let defaultMaximumFragmentCount = 1024

    /// A peer that follows RFC 6455 answers a close frame within a round trip; this bounds the
    /// wait for one that does not (as SPEC 9.2's FIN grace bounds the wait for a FIN).
    public static let defaultCloseHandshakeTimeout = TimeAmount.seconds(10)

    /// Room reserved in front of each chunk header so the frame encoder can prepend the
    /// WebSocket header (at most 14 bytes) into the same buffer instead of a separate one.
    private static let frameHeaderRoom = 14

    private enum State {
        case open
        /// We said goodbye first: reading on, discarding data, until the peer's close frame or
        /// EOF or the timeout; `closed` completes when the socket is closed.
        case closeSent(timeout: Scheduled<Void>, closed: EventLoopPromise<Void>)
        /// Answering the peer's close frame, or failing: the socket closes once our close frame
        /// is written.
        case closing
        case closed
    }

    /// Its limits and keepalive interval configure the handlers around this one; this handler
    /// uses the role and names the size limit in its log line.
    private let configuration: Configuration
    private let logger: Logger
    private var state = State.open

    private var isOpen: Bool {
        if case .open = self.state { true } else { false }
    }

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if case .closeSent(let timeout, let closed) = self.state {
            timeout.cancel()
            closed.succeed(())
        }
        self.state = .closed
        context.fireChannelInactive()
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if case .closeSent = self.state {
            // Nobody above takes data any more: only the peer's close frame matters now.
            if frame.opcode == .connectionClose { self.finishClosing(context: context) }
            return
        }
        switch frame.opcode {
        case .binary where frame.fin:
            // Unmasked in one word-wide pass; NIO's `unmaskedData` copies, then unmasks byte by byte.
            // (An assembled message comes from the aggregator already unmasked.)
            self.deliver(message: frame.fastUnmaskedData(allocator: context.channel.allocator), context: context)
        case .binary, .continuation:
            // The aggregator in front assembles fragments: one left over means it is missing.
            self.fail(.unexpectedContinuation, context: context)
        case .text:
            self.fail(.textFrame, context: context)
        case .ping:
            guard self.isOpen else { return }
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: self.makeMaskKey(), data: frame.unmaskedData)
            context.writeAndFlush(Self.wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            self.peerClosed(frame: frame, context: context)
        default:
            self.fail(.unknownOpcode, context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        guard case .closeSent = self.state else { return context.fireChannelReadComplete() }
        // The handlers above no longer ask for reads: keep reading until the peer's close.
        context.read()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        if case .closeSent = self.state {
            // A reset or a bad frame while waiting for the peer's close: nothing left to wait for.
            return self.finishClosing(context: context)
        }
        // Frame decoder errors (frame too large, bad framing) and the aggregator's (fragments
        // out of order, over a limit) arrive here: same treatment as a bad chunk.
        switch error {
        case let error as NIOWebSocketError:
            self.fail(.webSocket(error), context: context)
        case let error as NIOWebSocketFrameAggregator.Error:
            self.fail(ChunkFrameError(error, maximumMessageSize: self.configuration.maximumMessageSize), context: context)
        default:
            context.fireErrorCaught(error)
        }
    }

    /// `IdleStateHandler` (write idle) says nothing went out for a keepalive interval.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .closeSent = self.state, let event = event as? ChannelEvent, case .inputClosed = event {
            // The peer's EOF (on a channel that allows half-closure) ends the wait like its close frame.
            return self.finishClosing(context: context)
        }
        guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .write else {
            return context.fireUserInboundEventTriggered(event)
        }
        guard self.isOpen else { return }
        self.writeChunks(context.channel.allocator.buffer(capacity: 0), context: context, promise: nil)
        context.flush()
    }

    private func deliver(message: ByteBuffer, context: ChannelHandlerContext) {
        let data: ByteBuffer
        do {
            data = try Chunk.decode(message)
        } catch {
            return self.fail(.invalidChunk(error), context: context)
        }
        // Empty chunks are keepalives: nothing to pass on.
        if data.readableBytes > 0 {
            context.fireChannelRead(Self.wrapInboundOut(data))
        }
    }

    private func peerClosed(frame: WebSocketFrame, context: ChannelHandlerContext) {
        var payload = frame.unmaskedData
        let code = payload.readInteger(as: UInt16.self)
        let reason = payload.readString(length: payload.readableBytes) ?? ""
        self.logger.debug("peer closed the WebSocket", metadata: ["code": "\(code.map(String.init) ?? "none")", "reason": "\(reason)"])
        if self.isOpen {
            // Echo the close (RFC 6455 §5.5.1), then close once it is written.
            self.sendCloseAndClose(code: .normalClosure, context: context, promise: nil)
        }
    }

    private func fail(_ error: ChunkFrameError, context: ChannelHandlerContext) {
        guard self.isOpen else { return }
        self.logger.warning("closing tunnel: \(error)")
        // Claim the close before telling the handlers above: one of them may close the channel
        // in response (the relay's GlueHandler does), and `close(context:)` would then send a
        // 1000 "normal closure" ahead of the status that says why (ReliabilityTests,
        // FaultMatrixTests.invalidMessageClosesTheTunnel).
        self.state = .closing
        context.fireErrorCaught(error)
        self.sendCloseAndClose(code: error.closeCode, context: context, promise: nil)
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard self.isOpen else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        self.writeChunks(Self.unwrapOutboundIn(data), context: context, promise: promise)
    }

    private func writeChunks(_ payload: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        var payload = payload
        // Slices share the payload's storage: splitting copies nothing.
        while payload.readableBytes > Chunk.maximumDataLength {
            let piece = payload.readSlice(length: Chunk.maximumDataLength)!
            context.write(Self.wrapOutboundOut(self.makeChunkFrame(piece, allocator: context.channel.allocator)), promise: nil)
        }
        context.write(Self.wrapOutboundOut(self.makeChunkFrame(payload, allocator: context.channel.allocator)), promise: promise)
    }

    /// A close (or half-close) from above: say goodbye on the WebSocket first, then close.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch (self.state, mode) {
        case (.open, .all), (.open, .output):
            self.sendCloseThenAwaitPeer(context: context, promise: promise)
        case (.closeSent(_, let closed), .all), (.closeSent(_, let closed), .output):
            closed.futureResult.cascade(to: promise)
        case (.closing, .all), (.closing, .output):
            // Already saying goodbye; the connection closes when that is written.
            promise?.succeed(())
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    /// The chunk header goes into the frame's extension-data buffer: on the wire it simply
    /// precedes the payload, so the payload buffer is sent as it is (masked in place by the
    /// encoder on the client side) and never copied into a combined message.
    private func makeChunkFrame(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> WebSocketFrame {
        var header = allocator.buffer(capacity: Self.frameHeaderRoom + 11)
        header.moveWriterIndex(forwardBy: Self.frameHeaderRoom)
        header.moveReaderIndex(forwardBy: Self.frameHeaderRoom)
        Chunk.writeHeader(dataLength: payload.readableBytes, to: &header)
        return WebSocketFrame(fin: true, opcode: .binary, maskKey: self.makeMaskKey(), data: payload, extensionData: header)
    }

    private func makeMaskKey() -> WebSocketMaskingKey? {
        switch self.configuration.role {
        case .client: .random()
        case .server: nil
        }
    }

    private func sendCloseAndClose(code: WebSocketErrorCode, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        self.state = .closing
        // Writes complete in order, so once the close frame is out every chunk before it is out too.
        self.writeCloseFrame(code: code, context: context).assumeIsolated().whenComplete { _ in
            context.close(mode: .all, promise: promise)
        }
    }

    /// Our goodbye comes first: send it, then read until the peer's (see the type's comment).
    private func sendCloseThenAwaitPeer(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let closed = context.eventLoop.makePromise(of: Void.self)
        closed.futureResult.cascade(to: promise)
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: self.configuration.closeHandshakeTimeout) {
            self.logger.debug("no close frame from the peer in time; closing the connection")
            self.finishClosing(context: context)
        }
        self.state = .closeSent(timeout: timeout, closed: closed)
        self.writeCloseFrame(code: .normalClosure, context: context).assumeIsolated().whenFailure { _ in
            // The connection is gone or failing: no answer will come.
            self.finishClosing(context: context)
        }
        context.read()
    }

    /// The peer answered our close (or went away, or took too long): close the socket.
    private func finishClosing(context: ChannelHandlerContext) {
        guard case .closeSent(let timeout, let closed) = self.state else { return }
        timeout.cancel()
        self.state = .closing
        context.close(mode: .all, promise: closed)
    }

    private func writeCloseFrame(code: WebSocketErrorCode, context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: self.makeMaskKey(), data: payload)
        return context.writeAndFlush(Self.wrapOutboundOut(frame))
    }
}

/// Why a tunnel's WebSocket was closed by us.
public enum ChunkFrameError: Error, CustomStringConvertible {
    case invalidChunk(ChunkDecodingError)
    case textFrame
    case messageTooLarge(Int)
    /// More fragments than allowed, or a non-final one below the minimum size.
    case tooManyFragments
    case unexpectedContinuation
    case unknownOpcode
    case webSocket(NIOWebSocketError)

    public var description: String {
        switch self {
        case .invalidChunk(let error): "invalid chunk from peer: \(error)"
        case .textFrame: "text frame from peer (the tunnel carries binary chunks only)"
        case .messageTooLarge(let limit): "message from peer larger than \(limit) bytes"
        case .tooManyFragments: "message from peer in too many fragments"
        case .unexpectedContinuation: "fragmented message out of order"
        case .unknownOpcode: "WebSocket frame with an unknown opcode"
        case .webSocket(let error): "WebSocket protocol error: \(error)"
        }
    }

    var closeCode: WebSocketErrorCode {
        switch self {
        case .invalidChunk, .textFrame: .unacceptableData
        case .messageTooLarge: .messageTooLarge
        case .tooManyFragments: .policyViolation
        case .unexpectedContinuation, .unknownOpcode, .webSocket: .protocolError
        }
    }
}

extension ChunkFrameError {
    /// The aggregator's refusals as today's close reasons: too large 1009, too many fragments
    /// 1008, fragments out of order 1002.
    init(_ error: NIOWebSocketFrameAggregator.Error, maximumMessageSize: Int) {
        switch error {
        case .accumulatedFrameSizeIsTooLarge:
            self = .messageTooLarge(maximumMessageSize)
        case .tooManyFragments, .nonFinalFragmentSizeIsTooSmall:
            self = .tooManyFragments
        case .receivedNewFrameWithoutFinishingPrevious, .didReceiveFragmentBeforeReceivingTextOrBinaryFrame:
            self = .unexpectedContinuation
        }
    }
}
