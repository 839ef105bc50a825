import NIOCore

/// Joins two channels of one tunnel so that bytes read on one are written to the other.
///
/// Backpressure is the point (after swift-nio-examples' connect-proxy): a handler only asks its
/// channel to `read()` while the partner channel is writable, and resumes the held-back read
/// when the partner's writability returns. So a tunnel holds at most about one read buffer
/// plus the partner's write-buffer high watermark, whatever the speeds of the two ends.
///
/// Both channels must live on the same event loop: the partners call each other directly.
public final class GlueHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Written to this handler's channel when the partner closes without having sent a byte
    /// (the relay's `502 Bad Gateway` for a tunnel that died before the gateway answered).
    private let responseIfPartnerSentNothing: ByteBuffer?
    private var closingAfterPartner = false

    /// Bytes this handler's channel received from the partner (written out on this channel).
    public private(set) var bytesFromPartner = 0

    /// How this handler's own channel ended the tunnel, when it was the first of the two to end
    /// (for the tunnel's log line); `nil` while it is open or when the partner ended first.
    public private(set) var ending: Ending?

    public enum Ending {
        /// The channel closed (or was closed from outside the glue).
        case closed
        /// The peer sent EOF.
        case endOfInput
        /// An error was caught on this channel (a reset, an invalid message, …).
        case error(any Error)
    }

    private init(responseIfPartnerSentNothing: ByteBuffer?) {
        self.responseIfPartnerSentNothing = responseIfPartnerSentNothing
    }

    /// Two handlers joined to each other: add `first` to one channel's pipeline and `second` to the other's.
    public static func matchedPair(
        firstResponseIfPartnerSentNothing: ByteBuffer? = nil
    ) -> (first: GlueHandler, second: GlueHandler) {
        let first = GlueHandler(responseIfPartnerSentNothing: firstResponseIfPartnerSentNothing)
        let second = GlueHandler(responseIfPartnerSentNothing: nil)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    // MARK: Called by the partner

    private func partnerWrite(_ data: NIOAny) {
        guard let context = self.context else { return }
        self.bytesFromPartner += Self.unwrapOutboundIn(data).readableBytes
        context.write(data, promise: nil)
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    /// The partner's channel is gone: finish writing what it sent us, then close ours.
    private func partnerClosed() {
        guard let context = self.context, !self.closingAfterPartner else { return }
        self.closingAfterPartner = true
        self.partner = nil
        if self.bytesFromPartner == 0, let response = self.responseIfPartnerSentNothing {
            context.write(Self.wrapOutboundOut(response), promise: nil)
        }
        context.flush()
        // `close(mode: .output)` waits for the pending writes (a plain close would drop them),
        // then the full close releases the socket.
        let outputClosed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: outputClosed)
        outputClosed.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private var partnerIsWritable: Bool {
        self.context?.channel.isWritable ?? false
    }

    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }

    // MARK: Channel events

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.partner?.partnerWrite(data)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.partnerFlush()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.recordEnding(.closed)
        self.partner?.partnerClosed()
        self.partner = nil
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // With half-closure allowed, EOF arrives as an event: the protocol cannot carry a
        // half-close, so EOF ends the tunnel (after the bytes already read are sent).
        if let event = event as? ChannelEvent, case .inputClosed = event {
            self.recordEnding(.endOfInput)
            self.partner?.partnerClosed()
            self.partner = nil
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.recordEnding(.error(error))
        context.close(promise: nil)
    }

    /// Only the first cause counts, and only if the partner had not ended the tunnel already.
    private func recordEnding(_ ending: Ending) {
        if self.ending == nil, !self.closingAfterPartner {
            self.ending = ending
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    public func read(context: ChannelHandlerContext) {
        if let partner = self.partner, partner.partnerIsWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }
}
