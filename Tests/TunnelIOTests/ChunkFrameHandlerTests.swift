import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOWebSocket
import RelayProtocol
import TestSupport
import Testing

@testable import TunnelIO

/// `ChunkFrameHandler` in the pipeline `addTunnelFrameHandlers` builds (NIO's idle-state handler
/// and frame aggregator in front of it), as relay and gateway run it.
@Suite struct ChunkFrameHandlerTests {
    private func makeChannel(
        role: ChunkFrameHandler.Role = .server,
        keepalive: TimeAmount? = nil,
        maximumMessageSize: Int = 1024,
        maximumFragmentCount: Int = ChunkFrameHandler.defaultMaximumFragmentCount
    ) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addTunnelFrameHandlers(
            .init(role: role, maximumMessageSize: maximumMessageSize, maximumFragmentCount: maximumFragmentCount, keepaliveInterval: keepalive),
            logger: Logger(label: "test")
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// The close code of the close frame the handler sent.
    private func closeCode(_ channel: EmbeddedChannel) throws -> WebSocketErrorCode? {
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        var closePayload = close.data
        return closePayload.readWebSocketErrorCode()
    }

    private func binary(_ bytes: [UInt8], fin: Bool = true, opcode: WebSocketOpcode = .binary) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, data: ByteBuffer(bytes: bytes))
    }

    /// The message bytes of an outbound frame: extension data then data. (Outbound frames are
    /// still plain here; the frame encoder further down applies the mask.)
    private func payload(_ frame: WebSocketFrame) -> [UInt8] {
        Array((frame.extensionData ?? ByteBuffer()).readableBytesView) + Array(frame.data.readableBytesView)
    }

    @Test func inboundChunkDataIsPassedOn() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(self.binary([0x0A, 0x03, 0x61, 0x62, 0x63]))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "abc")
    }

    @Test func emptyChunksAreKeepalivesAndNotPassedOn() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(self.binary([]))
        try channel.writeInbound(self.binary([0x0A, 0x00]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(channel.isActive)
    }

    @Test func maskedClientFramesAreUnmasked() throws {
        let channel = try self.makeChannel()
        var data = ByteBuffer(bytes: [0x0A, 0x02, 0x68, 0x69])
        let key = WebSocketMaskingKey.random()
        data.webSocketMask(key)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .binary, maskKey: key, data: data))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "hi")
    }

    /// An unfragmented message is the data path: the aggregator passes the frame through and the
    /// data handed on is a slice of the frame's own buffer, not a copy.
    @Test func unfragmentedMessagesAreNotCopied() throws {
        let channel = try self.makeChannel()
        let frame = self.binary([0x0A, 0x03, 0x61, 0x62, 0x63])
        try channel.writeInbound(frame)
        let data = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(String(buffer: data) == "abc")
        let framePayloadStart = frame.data.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let dataStart = data.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(dataStart == framePayloadStart + 2, "the data follows the chunk header in the same storage")
    }

    @Test func fragmentedMessagesAreAssembled() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(self.binary([0x0A, 0x04, 0x61], fin: false))
        try channel.writeInbound(self.binary([0x62, 0x63], fin: false, opcode: .continuation))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(self.binary([0x64], fin: true, opcode: .continuation))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "abcd")
    }

    @Test(arguments: [
        [UInt8]([0x0A, 0x05, 0x61]),  // length past the end
        [0x08, 0x01],  // field 1 as a varint
        [0x13],  // wire type 3
    ])
    func invalidChunkClosesWithUnacceptableData(message: [UInt8]) throws {
        let channel = try self.makeChannel()
        #expect(throws: ChunkFrameError.self) { try channel.writeInbound(self.binary(message)) }
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        var closePayload = close.data
        #expect(closePayload.readWebSocketErrorCode() == .unacceptableData)
        #expect(!channel.isActive)
    }

    @Test func textFrameClosesTheTunnel() throws {
        let channel = try self.makeChannel()
        #expect(throws: ChunkFrameError.self) { try channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "hi"))) }
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
        #expect(!channel.isActive)
    }

    @Test func oversizedFragmentedMessageClosesTheTunnel() throws {
        let channel = try self.makeChannel(maximumMessageSize: 8)
        try channel.writeInbound(self.binary([0x0A, 0x10, 1, 2, 3, 4], fin: false))
        #expect(throws: ChunkFrameError.self) {
            try channel.writeInbound(self.binary([5, 6, 7, 8, 9], fin: false, opcode: .continuation))
        }
        #expect(try self.closeCode(channel) == .messageTooLarge)
        #expect(!channel.isActive)
    }

    @Test func tooManyFragmentsCloseWithPolicyViolation() throws {
        let channel = try self.makeChannel(maximumFragmentCount: 3)
        try channel.writeInbound(self.binary([0x0A, 0x03], fin: false))
        let error = #expect(throws: ChunkFrameError.self) {
            try channel.writeInbound(self.binary([0x61], fin: false, opcode: .continuation))
            try channel.writeInbound(self.binary([0x62], fin: false, opcode: .continuation))
        }
        #expect(error?.description.contains("too many fragments") == true)
        #expect(try self.closeCode(channel) == .policyViolation)
        #expect(!channel.isActive)
    }

    @Test func aMessageInExactlyTheMostFragmentsAllowedPasses() throws {
        let channel = try self.makeChannel(maximumFragmentCount: 3)
        try channel.writeInbound(self.binary([0x0A, 0x02], fin: false))
        try channel.writeInbound(self.binary([0x61], fin: false, opcode: .continuation))
        try channel.writeInbound(self.binary([0x62], fin: true, opcode: .continuation))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "ab")
    }

    @Test func aContinuationWithNothingToContinueClosesWithProtocolError() throws {
        let channel = try self.makeChannel()
        let error = #expect(throws: ChunkFrameError.self) {
            try channel.writeInbound(self.binary([0x0A, 0x00], opcode: .continuation))
        }
        #expect(error?.description.contains("out of order") == true)
        #expect(try self.closeCode(channel) == .protocolError)
    }

    @Test func aNewMessageBeforeTheFragmentedOneIsCompleteClosesWithProtocolError() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(self.binary([0x0A, 0x02, 0x61], fin: false))
        #expect(throws: ChunkFrameError.self) { try channel.writeInbound(self.binary([0x0A, 0x00])) }
        #expect(try self.closeCode(channel) == .protocolError)
    }

    /// Control frames may come between the fragments of a message (RFC 6455 5.4).
    @Test func aPingBetweenFragmentsIsAnswered() throws {
        let channel = try self.makeChannel()
        try channel.writeInbound(self.binary([0x0A, 0x02, 0x61], fin: false))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "p")))
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .pong)
        try channel.writeInbound(self.binary([0x62], fin: true, opcode: .continuation))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "ab")
    }

    @Test func pingsAreAnsweredWithPongCarryingTheSameData() throws {
        let channel = try self.makeChannel(role: .client)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "are you there")))
        let pong = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(pong.opcode == .pong)
        #expect(pong.maskKey != nil, "a client masks every frame")
        #expect(String(buffer: pong.data) == "are you there")
    }

    @Test func peerCloseIsEchoedAndClosesTheChannel() throws {
        let channel = try self.makeChannel()
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: .goingAway)
        payload.writeString("bye")
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload))
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
        #expect(!channel.isActive)
    }

    @Test func outboundBytesBecomeChunksWithTheHeaderAheadOfTheUntouchedPayload() throws {
        let channel = try self.makeChannel(role: .server)
        let payload = ByteBuffer(string: "hello")
        try channel.writeOutbound(payload)
        let frame = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(frame.opcode == .binary && frame.fin && frame.maskKey == nil)
        #expect(self.payload(frame) == [0x0A, 0x05] + Array("hello".utf8))
        // The payload buffer itself is sent, not a combined copy.
        #expect(frame.data == payload)
        #expect(try Chunk.decode(ByteBuffer(bytes: self.payload(frame))) == payload)
    }

    @Test func clientFramesAreMasked() throws {
        let channel = try self.makeChannel(role: .client)
        try channel.writeOutbound(ByteBuffer(string: "x"))
        let frame = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(frame.maskKey != nil)
    }

    @Test func largeWritesAreSplitInto512KiBChunks() throws {
        let channel = try self.makeChannel()
        let size = 2 * Chunk.maximumDataLength + 10
        try channel.writeOutbound(ByteBuffer(repeating: 7, count: size))
        var sizes: [Int] = []
        while let frame = try channel.readOutbound(as: WebSocketFrame.self) {
            sizes.append(try Chunk.decode(ByteBuffer(bytes: self.payload(frame))).readableBytes)
        }
        #expect(sizes == [Chunk.maximumDataLength, Chunk.maximumDataLength, 10])
    }

    @Test func closeSendsACloseFrameFirstThenWaitsForThePeers() throws {
        let channel = try self.makeChannel()
        try channel.writeOutbound(ByteBuffer(string: "last bytes"))
        let closed = channel.close()
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .binary)
        #expect(try self.closeCode(channel) == .normalClosure)
        // Closing now would reset the connection under chunks the peer has not read yet.
        #expect(channel.isActive)
        // What still arrives is dropped (nobody above takes it); the peer's close ends the wait.
        try channel.writeInbound(self.binary([0x0A, 0x03, 0x61, 0x62, 0x63]))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(channel.isActive)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xE8])))
        #expect(!channel.isActive)
        #expect(throws: Never.self) { try closed.wait() }
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil, "no second close frame")
    }

    @Test func aPeerThatNeverAnswersTheCloseIsClosedAfterTheTimeout() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addTunnelFrameHandlers(
            .init(role: .client, closeHandshakeTimeout: .seconds(10)), logger: Logger(label: "test")
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.close(promise: nil)
        #expect(try self.closeCode(channel) == .normalClosure)
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func thePeersEOFEndsTheWaitForItsClose() throws {
        let channel = try self.makeChannel()
        channel.close(mode: .output, promise: nil)
        #expect(try self.closeCode(channel) == .normalClosure)
        #expect(channel.isActive)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!channel.isActive)
    }

    /// The keepalive timer is NIO's `IdleStateHandler` on write idleness, with the interval asked.
    @Test func keepaliveIsDrivenByAWriteIdleStateHandler() throws {
        let channel = try self.makeChannel(keepalive: .seconds(30))
        let idle = try channel.pipeline.syncOperations.handler(type: IdleStateHandler.self)
        #expect(idle.writeTimeout == .seconds(30))
        #expect(idle.readTimeout == nil && idle.allTimeout == nil)
    }

    @Test func aWriteIdleEventSendsOneEmptyChunk() throws {
        let channel = try self.makeChannel(role: .client, keepalive: .seconds(30))
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.write)
        let keepalive = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(keepalive.opcode == .binary && keepalive.fin && keepalive.maskKey != nil)
        #expect(self.payload(keepalive) == [0x0A, 0x00])
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
    }

    @Test func otherIdleEventsPassOnAndSendNothing() throws {
        let channel = try self.makeChannel(keepalive: .seconds(30))
        let events = EventRecorder()
        try channel.pipeline.syncOperations.addHandler(events)
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.read)
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        #expect(events.count == 1)
    }

    @Test func noKeepaliveAfterClosing() throws {
        let channel = try self.makeChannel(keepalive: .seconds(30))
        channel.close(promise: nil)
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.write)
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
    }

    @Test func noIdleStateHandlerWhenKeepaliveIsOff() throws {
        let channel = try self.makeChannel(keepalive: nil)
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: IdleStateHandler.self) }
        channel.embeddedEventLoop.advanceTime(by: .hours(1))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
    }
}

/// Counts the user events that reach the end of the pipeline.
private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = Never
    private(set) var count = 0

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        self.count += 1
    }
}

/// The keepalive on a real connection and a real clock: `IdleStateHandler` measures time with
/// the wall clock, which an `EmbeddedEventLoop` does not advance.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct KeepaliveOnARealConnectionTests {
    @Test func anIdleTunnelSendsEmptyChunksNoSoonerThanTheInterval() async throws {
        let interval = TimeAmount.milliseconds(200)
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(WebSocketFrameEncoder())
                    try pipeline.addHandler(ByteToMessageHandler(WebSocketFrameDecoder()))
                    try pipeline.addTunnelFrameHandlers(.init(role: .server, keepaliveInterval: interval), logger: Logger(label: "test"))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let (frames, received) = AsyncStream.makeStream(of: (at: NIODeadline, payload: [UInt8]).self)
        let start = NIODeadline.now()
        let client = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(FrameRecorder(received))
                }
            }
            .connect(host: "127.0.0.1", port: server.localAddress!.port!)
            .get()

        var iterator = frames.makeAsyncIterator()
        let first = try #require(await iterator.next())
        let second = try #require(await iterator.next())
        #expect(first.payload == [0x0A, 0x00] && second.payload == [0x0A, 0x00])
        // Timers never fire early, and the server's idle clock starts after `start`.
        #expect(first.at - start >= interval, "first keepalive after \(first.at - start)")
        #expect(second.at > first.at)

        try await client.close()
        try await server.close()
    }
}

/// Hands each frame's arrival time and payload to a stream.
private final class FrameRecorder: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    private let received: AsyncStream<(at: NIODeadline, payload: [UInt8])>.Continuation

    init(_ received: AsyncStream<(at: NIODeadline, payload: [UInt8])>.Continuation) {
        self.received = received
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        self.received.yield((NIODeadline.now(), Array(frame.unmaskedData.readableBytesView)))
    }
}
