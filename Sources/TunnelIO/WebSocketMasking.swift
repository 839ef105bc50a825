import NIOCore
import NIOWebSocket

extension ByteBuffer {
    /// Appends `source`'s readable bytes XOR the masking key (RFC 6455 §5.3), key byte
    /// `keyOffset % 4` applying to the first of them: masking and copying are one pass, eight
    /// bytes at a time. NIO's own `webSocketMask` works a byte at a time in place, which on a
    /// shared buffer also means a copy first: profiles of the upload path showed it at 60 % of
    /// the relay's and the gateway's CPU.
    mutating func writeWebSocketMasked(_ source: ByteBuffer, key: WebSocketMaskingKey, keyOffset: Int = 0) {
        let count = source.readableBytes
        guard count > 0 else { return }
        let k0 = key[keyOffset & 3], k1 = key[(keyOffset + 1) & 3]
        let k2 = key[(keyOffset + 2) & 3], k3 = key[(keyOffset + 3) & 3]
        let quad = UInt32(k0) | UInt32(k1) << 8 | UInt32(k2) << 16 | UInt32(k3) << 24
        // The key repeated, laid out in memory order whatever the host's byte order.
        let word = UInt64(littleEndian: UInt64(quad) | UInt64(quad) << 32)
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { output in
            source.withUnsafeReadableBytes { input in
                var index = 0
                while index + 8 <= count {
                    let value = input.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    output.storeBytes(of: value ^ word, toByteOffset: index, as: UInt64.self)
                    index += 8
                }
                while index < count {
                    output[index] = input[index] ^ key[(index + keyOffset) & 3]
                    index += 1
                }
            }
            return count
        }
    }
}

extension WebSocketFrame {
    /// The payload with the mask removed, as `unmaskedData` but in one word-wide pass.
    func fastUnmaskedData(allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let key = self.maskKey else { return self.data }
        var unmasked = allocator.buffer(capacity: self.data.readableBytes)
        unmasked.writeWebSocketMasked(self.data, key: key)
        return unmasked
    }
}
