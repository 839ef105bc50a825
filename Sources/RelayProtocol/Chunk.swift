import NIOCore

/// The tunnel's wire format: every WebSocket binary message is one protobuf
/// `message UpstreamProxyChunk { bytes data = 1; }`.
///
/// The encoder only ever produces the canonical form (tag `0x0a`, varint length, bytes).
/// The decoder accepts every valid protobuf encoding of the message, as SPEC §6 requires.
public enum Chunk {
    /// Largest payload the relay puts in one chunk (SPEC §6.6).
    public static let maximumDataLength = 512 * 1024

    /// Field 1, wire type 2 (length-delimited).
    static let dataTag: UInt8 = 0x0A

    /// Bytes the tag and the varint length take in front of `dataLength` bytes of data.
    @inlinable
    public static func headerLength(dataLength: Int) -> Int {
        1 + Varint.encodedLength(UInt64(dataLength))
    }

    /// Writes the tag and the varint length for `dataLength` bytes of data at the writer index.
    /// The data itself follows in whatever buffer the caller has (no copy is needed here).
    @discardableResult
    public static func writeHeader(dataLength: Int, to buffer: inout ByteBuffer) -> Int {
        precondition(dataLength >= 0)
        let tagLength = buffer.writeInteger(Self.dataTag)
        return tagLength + Varint.write(UInt64(dataLength), to: &buffer)
    }

    /// A complete chunk in one new buffer: header then a copy of `data`.
    /// For small messages (the CONNECT head); the data path sends the header and the payload
    /// as two buffers instead (see `TunnelIO.ChunkFrameHandler`).
    public static func encode(_ data: ByteBuffer, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: Self.headerLength(dataLength: data.readableBytes) + data.readableBytes)
        Self.writeHeader(dataLength: data.readableBytes, to: &buffer)
        var data = data
        buffer.writeBuffer(&data)
        return buffer
    }

    /// The data carried by one message: a slice of `message`'s storage, no copy.
    /// An empty message, or one whose field 1 is empty, yields an empty buffer (a keepalive).
    public static func decode(_ message: ByteBuffer) throws(ChunkDecodingError) -> ByteBuffer {
        var cursor = message
        var data: ByteBuffer? = nil
        while cursor.readableBytes > 0 {
            let key = try Varint.read(from: &cursor)
            let fieldNumber = key >> 3
            let wireType = UInt8(truncatingIfNeeded: key & 0x7)
            guard fieldNumber != 0 else { throw .fieldNumberZero }
            guard fieldNumber <= 0x1FFF_FFFF else { throw .fieldNumberTooLarge }
            switch WireType(rawValue: wireType) {
            case .lengthDelimited:
                let length = try Varint.read(from: &cursor)
                guard length <= UInt64(cursor.readableBytes) else { throw .lengthPastEnd }
                let slice = cursor.readSlice(length: Int(length))!
                if fieldNumber == 1 { data = slice }  // last one wins
            case .varint where fieldNumber != 1:
                _ = try Varint.read(from: &cursor)
            case .fixed64 where fieldNumber != 1:
                guard cursor.readableBytes >= 8 else { throw .truncatedField }
                cursor.moveReaderIndex(forwardBy: 8)
            case .fixed32 where fieldNumber != 1:
                guard cursor.readableBytes >= 4 else { throw .truncatedField }
                cursor.moveReaderIndex(forwardBy: 4)
            case .varint, .fixed64, .fixed32:
                throw .wrongWireTypeForData(wireType)
            case .none:
                // 3 and 4 (groups) are deprecated and not part of this message; 6 and 7 do not exist.
                throw .invalidWireType(wireType)
            }
        }
        return data ?? message.getSlice(at: message.readerIndex, length: 0)!
    }
}

/// Why a WebSocket message is not a valid `UpstreamProxyChunk`.
public enum ChunkDecodingError: Error, Equatable, CustomStringConvertible {
    /// A varint (field key or length) ran past the end of the message.
    case truncatedVarint
    /// A varint longer than 10 bytes.
    case varintTooLong
    /// A length-delimited field claims more bytes than the message holds.
    case lengthPastEnd
    /// A fixed32/fixed64 field ran past the end of the message.
    case truncatedField
    case fieldNumberZero
    case fieldNumberTooLarge
    /// Field 1 (`data`) with a wire type other than 2.
    case wrongWireTypeForData(UInt8)
    /// Wire types 3, 4, 6 and 7.
    case invalidWireType(UInt8)

    public var description: String {
        switch self {
        case .truncatedVarint: "truncated varint"
        case .varintTooLong: "varint longer than 10 bytes"
        case .lengthPastEnd: "field length past the end of the message"
        case .truncatedField: "truncated fixed-width field"
        case .fieldNumberZero: "field number 0"
        case .fieldNumberTooLarge: "field number out of range"
        case .wrongWireTypeForData(let type): "field 1 (data) with wire type \(type) instead of 2"
        case .invalidWireType(let type): "invalid wire type \(type)"
        }
    }
}

enum WireType: UInt8 {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Protobuf base-128 varints.
public enum Varint {
    @inlinable
    public static func encodedLength(_ value: UInt64) -> Int {
        // One byte per started group of 7 significant bits; 0 still takes one byte.
        let significantBits = 64 - (value | 1).leadingZeroBitCount
        return (significantBits + 6) / 7
    }

    @discardableResult
    public static func write(_ value: UInt64, to buffer: inout ByteBuffer) -> Int {
        var value = value
        var written = 0
        while value >= 0x80 {
            written += buffer.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        written += buffer.writeInteger(UInt8(value))
        return written
    }

    public static func read(from buffer: inout ByteBuffer) throws(ChunkDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw .truncatedVarint }
            guard shift < 64 else { throw .varintTooLong }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }
}
