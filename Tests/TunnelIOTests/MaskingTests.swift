import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import TunnelIO

/// The word-wide mask and `MaskingFrameEncoder` must produce exactly what NIO's byte-wise
/// `webSocketMask` and `WebSocketFrameEncoder` produce: same bytes on the wire, for every
/// length around the word and header-size boundaries and every key offset.
@Suite struct MaskingTests {
    static let key: WebSocketMaskingKey = [0x37, 0xFA, 0x21, 0x3D]

    /// Bytes that are not periodic in 4 or 8, so a key applied at the wrong offset shows.
    private func bytes(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ ($0 >> 8)) })
    }

    @Test(arguments: Array(0...40) + [63, 64, 65, 1000, 4096, 65_537])
    func maskingCopyEqualsNIOsInPlaceMask(count: Int) {
        for keyOffset in 0..<4 {
            let source = self.bytes(count, seed: UInt8(keyOffset))
            var expected = source
            expected.webSocketMask(Self.key, indexOffset: keyOffset)

            var output = ByteBuffer(bytes: [0xEE, 0xEE, 0xEE])  // something already in the buffer
            output.writeWebSocketMasked(source, key: Self.key, keyOffset: keyOffset)
            #expect(Array(output.readableBytesView.prefix(3)) == [0xEE, 0xEE, 0xEE])
            #expect(Array(output.readableBytesView.dropFirst(3)) == Array(expected.readableBytesView), "count \(count), offset \(keyOffset)")
        }
    }

    @Test func sourceWithAReaderIndexIsMaskedFromItsReadableBytes() {
        var source = self.bytes(100)
        source.moveReaderIndex(forwardBy: 13)
        var expected = source
        expected.webSocketMask(Self.key)
        var output = ByteBuffer()
        output.writeWebSocketMasked(source, key: Self.key)
        #expect(output == expected)
    }

    @Test(arguments: [0, 1, 7, 8, 9, 125, 126, 1000, 65_535, 65_536, 200_000])
    func fastUnmaskedDataEqualsUnmaskedData(count: Int) {
        var masked = self.bytes(count)
        masked.webSocketMask(Self.key)
        let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: Self.key, data: masked)
        #expect(frame.fastUnmaskedData(allocator: ByteBufferAllocator()) == frame.unmaskedData)
        #expect(frame.fastUnmaskedData(allocator: ByteBufferAllocator()) == self.bytes(count))

        let plain = WebSocketFrame(fin: true, opcode: .binary, data: self.bytes(count))
        #expect(plain.fastUnmaskedData(allocator: ByteBufferAllocator()) == self.bytes(count))
    }

    /// Encodes `frame` with an encoder on an EmbeddedChannel and returns all bytes written.
    private func encode(_ frame: WebSocketFrame, with encoder: some ChannelOutboundHandler) throws -> [UInt8] {
        let channel = EmbeddedChannel(handler: encoder)
        try channel.writeOutbound(frame)
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readableBytesView
        }
        _ = try channel.finish()
        return bytes
    }

    /// Lengths at the 7-bit / 16-bit / 64-bit header boundaries, split between extension data
    /// (the chunk header, in the relay) and data.
    static let frameShapes: [(extension: Int, data: Int)] = [
        (0, 0), (0, 1), (2, 0), (2, 3), (0, 125), (3, 122), (3, 123), (0, 126), (5, 65_530), (5, 65_531), (0, 65_536), (4, 300_000),
    ]

    @Test(arguments: 0..<Self.frameShapes.count)
    func maskedFramesAreByteIdenticalToNIOsEncoder(shape: Int) throws {
        let (extensionLength, dataLength) = Self.frameShapes[shape]
        let frame = WebSocketFrame(
            fin: true, opcode: .binary, maskKey: Self.key, data: self.bytes(dataLength),
            extensionData: extensionLength == 0 ? nil : self.bytes(extensionLength, seed: 99)
        )
        let ours = try self.encode(frame, with: MaskingFrameEncoder())
        let nios = try self.encode(frame, with: WebSocketFrameEncoder())
        #expect(ours.count == nios.count)
        #expect(ours == nios)
    }

    @Test func unmaskedAndControlFramesAreByteIdenticalToo() throws {
        let frames = [
            WebSocketFrame(fin: true, opcode: .binary, data: self.bytes(70_000), extensionData: self.bytes(4)),
            WebSocketFrame(fin: false, opcode: .text, data: self.bytes(10)),
            WebSocketFrame(fin: true, opcode: .ping, maskKey: Self.key, data: self.bytes(4)),
            WebSocketFrame(fin: true, rsv1: true, opcode: .connectionClose, maskKey: Self.key, data: ByteBuffer(bytes: [0x03, 0xE8])),
        ]
        for frame in frames {
            #expect(try self.encode(frame, with: MaskingFrameEncoder()) == self.encode(frame, with: WebSocketFrameEncoder()))
        }
    }

    /// The frame decoder on the far side reads back what was sent.
    @Test func nioDecoderReadsBackMaskedFrames() throws {
        let frame = WebSocketFrame(fin: true, opcode: .binary, maskKey: Self.key, data: self.bytes(5000), extensionData: self.bytes(3, seed: 7))
        let wire = try self.encode(frame, with: MaskingFrameEncoder())
        let decoder = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        // In pieces of 1000 bytes: the decoder must cope with the frame split across reads.
        for start in stride(from: 0, to: wire.count, by: 1000) {
            try decoder.writeInbound(ByteBuffer(bytes: wire[start..<min(start + 1000, wire.count)]))
        }
        let decoded = try #require(try decoder.readInbound(as: WebSocketFrame.self))
        #expect(decoded.opcode == .binary && decoded.fin)
        #expect(decoded.maskKey == Self.key)
        var expected = self.bytes(3, seed: 7)
        var data = self.bytes(5000)
        expected.writeBuffer(&data)
        #expect(decoded.unmaskedData == expected)
        _ = try decoder.finish()
    }
}
