import Logging
import NIOCore
import NIOWebSocket
import RelayProtocol

/// Turns a WebSocket channel into a byte stream: inbound binary messages are decoded as chunks
/// and their data passed on as `ByteBuffer`s; outbound `ByteBuffer`s leave as chunks of at most
/// 512 KiB. It also owns the WebSocket housekeeping of a tunnel: pings answered, keepalive
/// empty chunks on an idle outbound side, fragmented messages assembled, and a close frame
/// sent before the connection goes away.
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
        /// Send an empty chunk after this long without outbound traffic; nil = never.
        public var keepaliveInterval: TimeAmount?

        public init(role: Role, maximumMessageSize: Int = ChunkFrameHandler.defaultMaximumMessageSize, keepaliveInterval: TimeAmount? = nil) {
            self.role = role
            self.maximumMessageSize = maximumMessageSize
            self.keepaliveInterval = keepaliveInterval
        }
    }

    /// A full-size chunk plus generous room for a peer that frames differently.
    public static let defaultMaximumMessageSize = 2 * Chunk.maximumDataLength + 64

    /// Room reserved in front of each chunk header so the frame encoder can prepend the
    /// WebSocket header (at most 14 bytes) into the same buffer instead of a separate one.
    private static let frameHeaderRoom = 14

    private enum State {
        case open
        /// We sent a close frame; waiting for that write before closing the connection.
        case closing
        case closed
    }

    private let configuration: Configuration
    private let logger: Logger
    private var state = State.open
    /// Fragments of a binary message not yet complete (rare: our peers send one frame per message).
    private var fragments: ByteBuffer?
    private var lastOutboundWrite = NIODeadline.now()
    private var keepaliveTimer: Scheduled<Void>?

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.lastOutboundWrite = context.eventLoop.now
        if context.channel.isActive { self.scheduleKeepalive(context: context, after: self.configuration.keepaliveInterval) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.lastOutboundWrite = context.eventLoop.now
        self.scheduleKeepalive(context: context, after: self.configuration.keepaliveInterval)
        context.fireChannelActive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.keepaliveTimer?.cancel()
        self.keepaliveTimer = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.state = .closed
        self.keepaliveTimer?.cancel()
        self.keepaliveTimer = nil
        context.fireChannelInactive()
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .binary where self.fragments == nil:
            // Unmasked in one word-wide pass; NIO's `unmaskedData` copies, then unmasks byte by byte.
            let payload = frame.fastUnmaskedData(allocator: context.channel.allocator)
            if frame.fin {
                self.deliver(message: payload, context: context)
            } else {
                self.fragments = payload
            }
        case .continuation where self.fragments != nil:
            var payload = frame.fastUnmaskedData(allocator: context.channel.allocator)
            guard self.fragments!.readableBytes + payload.readableBytes <= self.configuration.maximumMessageSize else {
                return self.fail(.messageTooLarge(self.configuration.maximumMessageSize), context: context)
            }
            self.fragments!.writeBuffer(&payload)
            if frame.fin {
                let message = self.fragments!
                self.fragments = nil
                self.deliver(message: message, context: context)
            }
        case .binary, .continuation:
            self.fail(.unexpectedContinuation, context: context)
        case .text:
            self.fail(.textFrame, context: context)
        case .ping:
            guard self.state == .open else { return }
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

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Frame decoder errors (frame too large, bad framing) arrive here: same treatment as a bad chunk.
        if let error = error as? NIOWebSocketError {
            self.fail(.webSocket(error), context: context)
        } else {
            context.fireErrorCaught(error)
        }
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
        if self.state == .open {
            // Echo the close (RFC 6455 §5.5.1), then close once it is written.
            self.sendCloseAndClose(code: .normalClosure, context: context, promise: nil)
        }
    }

    private func fail(_ error: ChunkFrameError, context: ChannelHandlerContext) {
        guard self.state == .open else { return }
        self.logger.warning("closing tunnel: \(error)")
        self.fragments = nil
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
        guard self.state == .open else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var payload = Self.unwrapOutboundIn(data)
        self.lastOutboundWrite = context.eventLoop.now
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
            self.sendCloseAndClose(code: .normalClosure, context: context, promise: promise)
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
        self.keepaliveTimer?.cancel()
        var payload = context.channel.allocator.buffer(capacity: 2)
        payload.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: self.makeMaskKey(), data: payload)
        // Writes complete in order, so once the close frame is out every chunk before it is out too.
        context.writeAndFlush(Self.wrapOutboundOut(frame)).assumeIsolated().whenComplete { _ in
            context.close(mode: .all, promise: promise)
        }
    }

    // MARK: Keepalive

    private func scheduleKeepalive(context: ChannelHandlerContext, after delay: TimeAmount?) {
        guard let delay, self.state == .open else { return }
        self.keepaliveTimer?.cancel()
        self.keepaliveTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.keepaliveTimerFired(context: context)
        }
    }

    private func keepaliveTimerFired(context: ChannelHandlerContext) {
        guard let interval = self.configuration.keepaliveInterval, self.state == .open else { return }
        let idle = context.eventLoop.now - self.lastOutboundWrite
        if idle >= interval {
            let empty = context.channel.allocator.buffer(capacity: 0)
            self.write(context: context, data: NIOAny(empty), promise: nil)
            context.flush()
            self.scheduleKeepalive(context: context, after: interval)
        } else {
            self.scheduleKeepalive(context: context, after: interval - idle)
        }
    }
}

/// Why a tunnel's WebSocket was closed by us.
public enum ChunkFrameError: Error, CustomStringConvertible {
    case invalidChunk(ChunkDecodingError)
    case textFrame
    case messageTooLarge(Int)
    case unexpectedContinuation
    case unknownOpcode
    case webSocket(NIOWebSocketError)

    public var description: String {
        switch self {
        case .invalidChunk(let error): "invalid chunk from peer: \(error)"
        case .textFrame: "text frame from peer (the tunnel carries binary chunks only)"
        case .messageTooLarge(let limit): "message from peer larger than \(limit) bytes"
        case .unexpectedContinuation: "fragmented message out of order"
        case .unknownOpcode: "WebSocket frame with an unknown opcode"
        case .webSocket(let error): "WebSocket protocol error: \(error)"
        }
    }

    var closeCode: WebSocketErrorCode {
        switch self {
        case .invalidChunk, .textFrame: .unacceptableData
        case .messageTooLarge: .messageTooLarge
        case .unexpectedContinuation, .unknownOpcode, .webSocket: .protocolError
        }
    }
}
