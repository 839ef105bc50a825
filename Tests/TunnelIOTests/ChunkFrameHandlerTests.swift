import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import RelayProtocol
import Testing

@testable import TunnelIO

@Suite struct ChunkFrameHandlerTests {
    private func makeChannel(role: ChunkFrameHandler.Role = .server, keepalive: TimeAmount? = nil, maximumMessageSize: Int = 1024) throws -> EmbeddedChannel {
        let handler = ChunkFrameHandler(
            configuration: .init(role: role, maximumMessageSize: maximumMessageSize, keepaliveInterval: keepalive),
            logger: Logger(label: "test")
        )
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
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
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        var closePayload = close.data
        #expect(closePayload.readWebSocketErrorCode() == .messageTooLarge)
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

    @Test func closeSendsACloseFrameFirst() throws {
        let channel = try self.makeChannel()
        try channel.writeOutbound(ByteBuffer(string: "last bytes"))
        channel.close(promise: nil)
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .binary)
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        var closePayload = close.data
        #expect(close.opcode == .connectionClose)
        #expect(closePayload.readWebSocketErrorCode() == .normalClosure)
        #expect(!channel.isActive)
    }

    @Test func keepaliveIsSentAfterTheIdleIntervalOnly() throws {
        let channel = try self.makeChannel(keepalive: .seconds(30))
        let loop = channel.embeddedEventLoop
        loop.advanceTime(by: .seconds(29))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        loop.advanceTime(by: .seconds(1))
        let keepalive = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(self.payload(keepalive) == [0x0A, 0x00])

        // Traffic resets the idle clock: no keepalive until 30 s after the last write.
        loop.advanceTime(by: .seconds(20))
        try channel.writeOutbound(ByteBuffer(string: "data"))
        _ = try channel.readOutbound(as: WebSocketFrame.self)
        loop.advanceTime(by: .seconds(20))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        loop.advanceTime(by: .seconds(10))
        #expect(try channel.readOutbound(as: WebSocketFrame.self).map(self.payload) == [0x0A, 0x00])
    }

    @Test func noKeepaliveWhenDisabled() throws {
        let channel = try self.makeChannel(keepalive: nil)
        channel.embeddedEventLoop.advanceTime(by: .hours(1))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
    }
}
