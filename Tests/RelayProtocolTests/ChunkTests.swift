import NIOCore
import Testing

@testable import RelayProtocol

@Suite struct ChunkTests {
    private func bytes(_ array: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: array) }

    @Test(arguments: [0, 1, 127, 128, 300, 16383, 16384, 2_097_151, 2_097_152, 512 * 1024])
    func encodeWritesTagVarintAndData(length: Int) throws {
        let data = ByteBuffer(repeating: 0xAB, count: length)
        let encoded = Chunk.encode(data)
        #expect(encoded.getInteger(at: 0, as: UInt8.self) == 0x0A)
        #expect(encoded.readableBytes == Chunk.headerLength(dataLength: length) + length)
        var cursor = encoded
        cursor.moveReaderIndex(forwardBy: 1)
        #expect(try Varint.read(from: &cursor) == UInt64(length))
        #expect(try Chunk.decode(encoded) == data)
    }

    @Test func varintLengthBoundaries() {
        #expect(Varint.encodedLength(0) == 1)
        #expect(Varint.encodedLength(127) == 1)
        #expect(Varint.encodedLength(128) == 2)
        #expect(Varint.encodedLength(16383) == 2)
        #expect(Varint.encodedLength(16384) == 3)
        #expect(Varint.encodedLength(UInt64.max) == 10)
        var buffer = ByteBuffer()
        Varint.write(300, to: &buffer)
        #expect(Array(buffer.readableBytesView) == [0xAC, 0x02])
    }

    @Test func headerIsWrittenAheadOfThePayloadWithoutTouchingIt() {
        var header = ByteBuffer()
        let written = Chunk.writeHeader(dataLength: 200, to: &header)
        #expect(written == 3)
        #expect(Array(header.readableBytesView) == [0x0A, 0xC8, 0x01])
    }

    @Test func decodedDataIsASliceNotACopy() throws {
        let message = Chunk.encode(ByteBuffer(string: "hello"))
        let data = try Chunk.decode(message)
        #expect(String(buffer: data) == "hello")
        // Same storage: the slice's bytes live inside the message's allocation.
        message.withUnsafeReadableBytes { messageBytes in
            data.withUnsafeReadableBytes { dataBytes in
                #expect(dataBytes.baseAddress == messageBytes.baseAddress! + 2)
            }
        }
    }

    @Test func emptyMessageAndEmptyFieldAreEmptyChunks() throws {
        #expect(try Chunk.decode(ByteBuffer()).readableBytes == 0)
        #expect(try Chunk.decode(bytes([0x0A, 0x00])).readableBytes == 0)
    }

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() throws {
        let message = bytes(
            [0x10, 0x96, 0x01]  // field 2, varint 150
                + [0x19] + [UInt8](repeating: 1, count: 8)  // field 3, fixed64
                + [0x0A, 0x02, 0x68, 0x69]  // field 1 "hi"
                + [0x25, 1, 2, 3, 4]  // field 4, fixed32
                + [0x2A, 0x03, 0x61, 0x62, 0x63]  // field 5, bytes "abc"
                + [0x80, 0x01, 0x00]  // field 16, varint 0 (two-byte key)
        )
        #expect(String(buffer: try Chunk.decode(message)) == "hi")
    }

    @Test func lastDataFieldWins() throws {
        let message = bytes([0x0A, 0x01, 0x61, 0x0A, 0x02, 0x62, 0x63])
        #expect(String(buffer: try Chunk.decode(message)) == "bc")
        #expect(try Chunk.decode(bytes([0x0A, 0x01, 0x61, 0x0A, 0x00])).readableBytes == 0)
    }

    @Test func nonCanonicalLengthVarintIsAccepted() throws {
        // Length 1 written in two bytes: valid protobuf, not what the encoder writes.
        #expect(String(buffer: try Chunk.decode(bytes([0x0A, 0x81, 0x00, 0x7A]))) == "z")
    }

    @Test(arguments: [
        ([0x0A], ChunkDecodingError.truncatedVarint),  // length missing
        ([0x0A, 0x80], .truncatedVarint),  // length varint cut
        ([0x80], .truncatedVarint),  // key varint cut
        ([0x0A, 0x05, 0x61], .lengthPastEnd),
        ([0x2A, 0x05, 0x61], .lengthPastEnd),  // unknown field too
        ([0x02, 0x00], .fieldNumberZero),
        ([0x00], .fieldNumberZero),
        ([0x08, 0x01], .wrongWireTypeForData(0)),
        ([0x09] + [UInt8](repeating: 0, count: 8), .wrongWireTypeForData(1)),
        ([0x0D, 0, 0, 0, 0], .wrongWireTypeForData(5)),
        ([0x13], .invalidWireType(3)),
        ([0x14], .invalidWireType(4)),
        ([0x16], .invalidWireType(6)),
        ([0x17], .invalidWireType(7)),
        ([0x19, 1, 2, 3], .truncatedField),
        ([0x25, 1, 2], .truncatedField),
        ([0x10] + [UInt8](repeating: 0xFF, count: 10) + [0x01], .varintTooLong),
    ] as [([UInt8], ChunkDecodingError)])
    func invalidMessagesAreRejected(message: [UInt8], error: ChunkDecodingError) {
        #expect(throws: error) { try Chunk.decode(ByteBuffer(bytes: message)) }
    }
}
