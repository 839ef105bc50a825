import NIOCore
import NIOEmbedded
import Testing

@testable import TunnelIO

@Suite struct GlueHandlerTests {
    private func makePair(response: ByteBuffer? = nil) throws -> (EmbeddedChannel, EmbeddedChannel) {
        let (a, b, _, _) = try self.makeGluedPair(response: response)
        return (a, b)
    }

    private func makeGluedPair(response: ByteBuffer? = nil) throws -> (EmbeddedChannel, EmbeddedChannel, GlueHandler, GlueHandler) {
        let loop = EmbeddedEventLoop()
        let (first, second) = GlueHandler.matchedPair(firstResponseIfPartnerSentNothing: response)
        let a = EmbeddedChannel(handler: first, loop: loop)
        let b = EmbeddedChannel(handler: second, loop: loop)
        try a.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try b.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        return (a, b, first, second)
    }

    /// The tunnel's log line names the side that ended it; the other side's close is a consequence.
    @Test func theSideThatEndsTheTunnelFirstIsRecorded() throws {
        let (a, b, first, second) = try self.makeGluedPair()
        #expect(first.ending == nil && second.ending == nil)
        b.pipeline.fireChannelInactive()
        guard case .closed? = second.ending else { Issue.record("second: \(String(describing: second.ending))"); return }
        #expect(first.ending == nil, "the first side closed because its partner did")
        #expect(!a.isActive)
    }

    @Test func anErrorOrEOFIsRecordedAsTheEnding() throws {
        struct Reset: Error {}
        let (a, _, first, second) = try self.makeGluedPair()
        a.pipeline.fireErrorCaught(Reset())
        guard case .error(let error)? = first.ending else { Issue.record("first: \(String(describing: first.ending))"); return }
        #expect(error is Reset)
        #expect(second.ending == nil)

        let (_, d, third, fourth) = try self.makeGluedPair()
        d.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        guard case .endOfInput? = fourth.ending else { Issue.record("fourth: \(String(describing: fourth.ending))"); return }
        #expect(third.ending == nil)
    }

    @Test func bytesReadOnOneSideAreWrittenToTheOther() throws {
        let (a, b) = try self.makePair()
        try a.writeInbound(ByteBuffer(string: "to b"))
        try b.writeInbound(ByteBuffer(string: "to a"))
        #expect(try b.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "to b")
        #expect(try a.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "to a")
    }

    @Test func readsAreHeldBackWhileThePartnerIsNotWritable() throws {
        let (a, b) = try self.makePair()
        let reads = ReadCounter()
        try a.pipeline.syncOperations.addHandler(reads, position: .first)

        a.read()
        #expect(reads.count == 1)

        b.isWritable = false
        b.pipeline.fireChannelWritabilityChanged()
        a.read()
        #expect(reads.count == 1, "no read while the partner cannot take the bytes")

        b.isWritable = true
        b.pipeline.fireChannelWritabilityChanged()
        #expect(reads.count == 2, "the held-back read resumes when the partner drains")
    }

    @Test func partnerCloseClosesTheOtherSideAfterItsPendingBytes() throws {
        let (a, b) = try self.makePair()
        try a.writeInbound(ByteBuffer(string: "last"))
        a.pipeline.fireChannelInactive()
        #expect(try b.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "last")
        #expect(!b.isActive)
    }

    @Test func responseIsWrittenWhenThePartnerClosesWithoutSendingAnything() throws {
        let (a, b) = try self.makePair(response: ByteBuffer(string: "HTTP/1.1 502 Bad Gateway\r\n\r\n"))
        b.pipeline.fireChannelInactive()
        #expect(try a.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "HTTP/1.1 502 Bad Gateway\r\n\r\n")
        #expect(!a.isActive)
    }

    @Test func noResponseOnceThePartnerHasSentData() throws {
        let (a, b) = try self.makePair(response: ByteBuffer(string: "HTTP/1.1 502 Bad Gateway\r\n\r\n"))
        try b.writeInbound(ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n"))
        b.pipeline.fireChannelInactive()
        #expect(try a.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "HTTP/1.1 200 Connection Established\r\n\r\n")
        #expect(try a.readOutbound(as: ByteBuffer.self) == nil)
    }

    // MARK: The lifecycle: paired → glued → ended / closing after the partner

    @Test func anEOFEndsThisSideAndClosesBothChannels() throws {
        let (a, b, first, second) = try self.makeGluedPair()
        try a.writeInbound(ByteBuffer(string: "last"))
        a.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        guard case .endOfInput? = first.ending else { Issue.record("first: \(String(describing: first.ending))"); return }
        #expect(second.ending == nil)
        #expect(try b.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "last")
        #expect(!a.isActive && !b.isActive)
    }

    @Test func onlyTheFirstCauseIsRecorded() throws {
        struct Reset: Error {}
        let (a, _, first, _) = try self.makeGluedPair()
        a.pipeline.fireErrorCaught(Reset())
        a.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        a.pipeline.fireChannelInactive()
        guard case .error? = first.ending else { Issue.record("first: \(String(describing: first.ending))"); return }
    }

    @Test func aSideClosingAfterItsPartnerForwardsAndReadsNothingMore() throws {
        let (a, b, first, second) = try self.makeGluedPair()
        let reads = ReadCounter()
        try b.pipeline.syncOperations.addHandler(reads, position: .first)
        b.isWritable = true
        a.isWritable = false
        a.pipeline.fireChannelWritabilityChanged()
        b.read()
        #expect(reads.count == 0, "held back while the partner cannot take the bytes")

        a.pipeline.fireChannelInactive()
        #expect(!b.isActive)
        _ = try? b.writeInbound(ByteBuffer(string: "too late"))
        #expect(try a.readOutbound(as: ByteBuffer.self) == nil)
        a.isWritable = true
        a.pipeline.fireChannelWritabilityChanged()
        b.read()
        #expect(reads.count == 0, "no partner: the held read is dropped, not resumed")
        guard case .closed? = first.ending else { Issue.record("first: \(String(describing: first.ending))"); return }
        #expect(second.ending == nil, "closing because of the partner is no ending of its own")
    }

    @Test func aPartnerThatEndsBeforeThisSideIsAddedClosesItOnArrival() throws {
        let loop = EmbeddedEventLoop()
        let (first, second) = GlueHandler.matchedPair()
        let a = EmbeddedChannel(handler: first, loop: loop)
        try a.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        a.pipeline.fireChannelInactive()
        let b = EmbeddedChannel(loop: loop)
        try b.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        try b.pipeline.syncOperations.addHandler(second)
        #expect(!b.isActive)
        #expect(second.ending == nil)
    }
}

/// Counts `read()` calls that reach the channel.
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Never
    var count = 0

    func read(context: ChannelHandlerContext) {
        self.count += 1
        context.read()
    }
}
