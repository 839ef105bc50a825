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

    /// One handler's life: `paired` → `glued` → `ended` (its channel ended the tunnel) or
    /// `closingAfterPartner` (the partner's did). Whichever side ends first tells the other, so
    /// exactly one of the two records an `Ending`.
    private enum State {
        /// Being made by `matchedPair`, which pairs it at once.
        case unpaired
        /// Made by `matchedPair`, not yet in a pipeline.
        case paired(partner: GlueHandler)
        /// In a pipeline and joined to the partner: bytes flow both ways.
        case glued(Glued)
        /// This handler's channel ended the tunnel; the partner has been told.
        case ended(Ending)
        /// The partner's channel ended the tunnel: this one writes out what it has, then closes.
        case closingAfterPartner
    }

    private struct Glued {
        var partner: GlueHandler
        var context: ChannelHandlerContext
        /// A `read()` held back until the partner's channel is writable again.
        var readPending = false
    }

    private var state = State.unpaired
    /// Written to this handler's channel when the partner closes without having sent a byte
    /// (the relay's `502 Bad Gateway` for a tunnel that died before the gateway answered).
    private let responseIfPartnerSentNothing: ByteBuffer?

    /// Bytes this handler's channel received from the partner (written out on this channel).
    public private(set) var bytesFromPartner = 0

    /// How this handler's own channel ended the tunnel, when it was the first of the two to end
    /// (for the tunnel's log line); `nil` while it is open or when the partner ended first.
    public var ending: Ending? {
        if case .ended(let ending) = self.state { ending } else { nil }
    }

    public enum Ending {
        /// The channel closed (or was closed, or the glue taken out of it, from outside the glue).
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
        first.state = .paired(partner: second)
        second.state = .paired(partner: first)
        return (first, second)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        switch self.state {
        case .paired(let partner):
            self.state = .glued(Glued(partner: partner, context: context))
        case .closingAfterPartner:
            // The partner ended the tunnel before this side was in place.
            context.close(promise: nil)
        case .unpaired, .glued, .ended:
            preconditionFailure("a GlueHandler comes from matchedPair and goes into one pipeline")
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        // Taken out of a channel that is still open: the tunnel is over for the partner too.
        self.end(.closed)
    }

    // MARK: Called by the partner

    private func partnerWrite(_ data: NIOAny) {
        guard case .glued(let glued) = self.state else { return }
        self.bytesFromPartner += Self.unwrapOutboundIn(data).readableBytes
        glued.context.write(data, promise: nil)
    }

    private func partnerFlush() {
        guard case .glued(let glued) = self.state else { return }
        glued.context.flush()
    }

    /// The partner's channel is gone: finish writing what it sent us, then close ours.
    private func partnerClosed() {
        switch self.state {
        case .paired:
            self.state = .closingAfterPartner
        case .glued(let glued):
            self.state = .closingAfterPartner
            let context = glued.context
            if self.bytesFromPartner == 0, let response = self.responseIfPartnerSentNothing {
                context.write(Self.wrapOutboundOut(response), promise: nil)
            }
            context.flush()
            context.channel.closeAfterPendingWrites()
        case .unpaired, .ended, .closingAfterPartner:
            break
        }
    }

    private var partnerIsWritable: Bool {
        guard case .glued(let glued) = self.state else { return false }
        return glued.context.channel.isWritable
    }

    private func partnerBecameWritable() {
        guard case .glued(var glued) = self.state, glued.readPending else { return }
        glued.readPending = false
        self.state = .glued(glued)
        glued.context.read()
    }

    // MARK: Channel events

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .glued(let glued) = self.state {
            glued.partner.partnerWrite(data)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if case .glued(let glued) = self.state {
            glued.partner.partnerFlush()
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.end(.closed)
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // With half-closure allowed, EOF arrives as an event: the protocol cannot carry a
        // half-close, so EOF ends the tunnel (after the bytes already read are sent).
        if let event = event as? ChannelEvent, case .inputClosed = event {
            self.end(.endOfInput)
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.end(.error(error))
        context.close(promise: nil)
    }

    /// This side ends the tunnel, if it is still glued (only the first cause counts, and none
    /// when the partner ended it already): the partner finishes its writes and closes.
    private func end(_ ending: Ending) {
        guard case .glued(let glued) = self.state else { return }
        self.state = .ended(ending)
        glued.partner.partnerClosed()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .glued(let glued) = self.state {
            glued.partner.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    public func read(context: ChannelHandlerContext) {
        // No partner any more: nothing would take the bytes, so nothing is read.
        guard case .glued(var glued) = self.state else { return }
        if glued.partner.partnerIsWritable {
            context.read()
        } else {
            glued.readPending = true
            self.state = .glued(glued)
        }
    }
}
