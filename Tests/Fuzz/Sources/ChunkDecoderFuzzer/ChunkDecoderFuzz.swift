import FuzzSupport
import NIOCore
import RelayProtocol

/// What `Chunk.decode`, `Chunk.encode` and `Varint` must do with any bytes (SPEC §6 "The chunk"):
/// never crash; accept exactly what the reference reading below accepts, with the same data;
/// return that data as a slice of the message; and round-trip through the encoder.
enum ChunkDecoderFuzz {
    /// Guard bytes around the message in its storage: a decoder that reads before the reader
    /// index or past the writer index sees them and disagrees with the reference.
    static let guardByte: UInt8 = 0xEE
    static let leadingGuard = 3

    static func check(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let message = self.message(holding: bytes)
        let expected = ReferenceChunk.dataRange(in: bytes)

        let data: ByteBuffer
        do {
            data = try Chunk.decode(message)
        } catch {
            invariant(expected == nil, "decode rejected [\(bytes.hex)] (\(error)); the reference accepts it with data at \(expected!)")
            invariant(!error.description.isEmpty, "error without a description")
            self.checkVarint(bytes)
            return
        }
        guard let expected else {
            invariant(false, "decode accepted [\(bytes.hex)] with data [\(data.readableBytesView.hex)]; the reference rejects it")
            return
        }

        // The data is the slice of the message the reference points at, not a copy.
        invariant(data.readableBytes == expected.count, "data length \(data.readableBytes), expected \(expected.count) for [\(bytes.hex)]")
        message.withUnsafeReadableBytes { messageBytes in
            data.withUnsafeReadableBytes { dataBytes in
                guard let dataStart = dataBytes.baseAddress, let messageStart = messageBytes.baseAddress else { return }
                let offset = dataStart - messageStart
                invariant(offset == expected.lowerBound, "data at offset \(offset) of the message, expected \(expected.lowerBound) for [\(bytes.hex)]")
            }
        }
        invariant(data.readableBytesView.elementsEqual(bytes[expected]), "data differs from the message's bytes for [\(bytes.hex)]")

        // Re-encoding gives the canonical form, which decodes to the same data.
        let encoded = Chunk.encode(data)
        let canonical = ReferenceChunk.canonical(bytes[expected])
        invariant(encoded.readableBytesView.elementsEqual(canonical), "encode gave [\(encoded.readableBytesView.hex)], expected [\(canonical.hex)]")
        invariant((try? Chunk.decode(encoded)) == data, "decode(encode(data)) differs from data for [\(bytes.hex)]")
        if bytes == canonical {
            invariant(encoded.readableBytesView.elementsEqual(bytes), "encode(decode(x)) != x for canonical [\(bytes.hex)]")
        }

        // The data path's header, written separately, is the same prefix.
        var header = ByteBuffer()
        let headerLength = Chunk.writeHeader(dataLength: data.readableBytes, to: &header)
        invariant(headerLength == header.readableBytes && headerLength == Chunk.headerLength(dataLength: data.readableBytes), "header length \(headerLength)")
        invariant(header.readableBytesView.elementsEqual(canonical.prefix(headerLength)), "writeHeader differs from encode")

        self.checkVarint(bytes)
    }

    /// The message as the relay gets it: a window of a larger buffer, guard bytes on both sides.
    static func message(holding bytes: [UInt8]) -> ByteBuffer {
        let guards = [UInt8](repeating: Self.guardByte, count: Self.leadingGuard)
        let storage = ByteBuffer(bytes: guards + bytes + guards)
        var message = storage.getSlice(at: 0, length: Self.leadingGuard + bytes.count)!
        message.moveReaderIndex(forwardBy: Self.leadingGuard)
        return message
    }

    /// `Varint.read` on the input's first bytes, and a write/read round trip of a value taken from them.
    static func checkVarint(_ bytes: [UInt8]) {
        var cursor = self.message(holding: bytes)
        let read = try? Varint.read(from: &cursor)
        let expected = ReferenceChunk.varint(in: bytes, at: 0)
        invariant(read == expected?.value, "Varint.read gave \(String(describing: read)), expected \(String(describing: expected)) for [\(bytes.hex)]")
        if let expected {
            invariant(cursor.readerIndex - Self.leadingGuard == expected.end, "Varint.read consumed \(cursor.readerIndex - Self.leadingGuard) bytes, expected \(expected.end)")
        }

        guard bytes.count >= 9 else { return }
        let value = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> (bytes[8] % 64)
        var buffer = ByteBuffer()
        let written = Varint.write(value, to: &buffer)
        invariant(written == buffer.readableBytes && written == Varint.encodedLength(value), "Varint.write(\(value)) wrote \(written) bytes")
        invariant(buffer.readableBytesView.elementsEqual(ReferenceChunk.varint(value)), "Varint.write(\(value)) gave [\(buffer.readableBytesView.hex)]")
        invariant((try? Varint.read(from: &buffer)) == value && buffer.readableBytes == 0, "Varint round trip of \(value)")
    }
}

/// A second, deliberately plain reading of the wire format of SPEC §6, over an array, written
/// apart from `Chunk`: the oracle the decoder is compared with.
enum ReferenceChunk {
    /// Where field 1's bytes are in `message` (the last occurrence wins; `0..<0` when absent),
    /// or nil when the message is not a valid `UpstreamProxyChunk`.
    static func dataRange(in message: [UInt8]) -> Range<Int>? {
        var position = 0
        var data = 0..<0
        while position < message.count {
            guard let key = self.varint(in: message, at: position) else { return nil }
            position = key.end
            let field = key.value >> 3
            let wireType = key.value & 7
            guard field >= 1, field < 1 << 29 else { return nil }
            switch wireType {
            case 2:
                guard let length = self.varint(in: message, at: position) else { return nil }
                position = length.end
                guard length.value <= UInt64(message.count - position) else { return nil }
                if field == 1 { data = position..<position + Int(length.value) }
                position += Int(length.value)
            case 0 where field != 1:
                guard let value = self.varint(in: message, at: position) else { return nil }
                position = value.end
            case 1 where field != 1:
                guard message.count - position >= 8 else { return nil }
                position += 8
            case 5 where field != 1:
                guard message.count - position >= 4 else { return nil }
                position += 4
            default:
                return nil
            }
        }
        return data
    }

    /// A varint of at most 10 bytes at `start`; bits past the 64th are dropped, as protobuf does.
    static func varint(in bytes: [UInt8], at start: Int) -> (value: UInt64, end: Int)? {
        var value: UInt64 = 0
        for index in 0..<10 {
            guard start + index < bytes.count else { return nil }
            let byte = bytes[start + index]
            value |= UInt64(byte & 0x7F) << UInt64(7 * index)
            if byte & 0x80 == 0 { return (value, start + index + 1) }
        }
        return nil
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        repeat {
            bytes.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
            value >>= 7
        } while value > 0
        return bytes
    }

    /// Tag `0x0a`, the shortest varint of the length, the data.
    static func canonical(_ data: ArraySlice<UInt8>) -> [UInt8] {
        [0x0A] + self.varint(UInt64(data.count)) + data
    }
}
