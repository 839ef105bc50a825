import Foundation
import Crypto

/// The content served by `GET /bytes/N`: a fixed, non-repeating byte stream
/// that any test can regenerate to check what came through a tunnel.
///
/// Definition: the stream is a sequence of 64-bit words in little-endian
/// order; byte `i` is byte `i % 8` of word `i / 8`, where
///
///     word(j) = z ^ (z >> 31),  z = (j + 1) &* 0x9E37_79B9_7F4A_7C15   (wrapping UInt64)
///
/// A word at a time keeps generation cheap even in debug builds (one multiply
/// per 8 bytes), and unlike a per-byte formula it has no short period, so a
/// dropped, duplicated or reordered block changes the SHA-256.
public enum DeterministicBytes {
    /// How much the server generates and writes at a time.
    public static let pieceSize = 64 * 1024

    @inline(__always)
    static func word(_ index: UInt64) -> UInt64 {
        let z = (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
        return z ^ (z >> 31)
    }

    /// Byte `offset` of the stream.
    public static func byte(at offset: Int) -> UInt8 {
        precondition(offset >= 0, "offsets are non-negative")
        let word = Self.word(UInt64(offset / 8))
        return UInt8(truncatingIfNeeded: word >> (UInt64(offset % 8) * 8))
    }

    /// Fills `buffer` with the bytes at `offset ..< offset + buffer.count`.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer, offset: Int) {
        precondition(offset >= 0, "offsets are non-negative")
        var position = 0
        // Unaligned head, one byte at a time, up to the next word boundary.
        while position < buffer.count, (offset + position) % 8 != 0 {
            buffer[position] = byte(at: offset + position)
            position += 1
        }
        // Whole words: the fast path for the server's 64 KiB pieces.
        var wordIndex = UInt64((offset + position) / 8)
        while buffer.count - position >= 8 {
            buffer.storeBytes(of: word(wordIndex).littleEndian, toByteOffset: position, as: UInt64.self)
            wordIndex += 1
            position += 8
        }
        // Tail.
        while position < buffer.count {
            buffer[position] = byte(at: offset + position)
            position += 1
        }
    }

    /// The first `count` bytes of the stream.
    public static func bytes(count: Int, offset: Int = 0) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer), offset: offset)
            initialized = count
        }
    }

    /// Lowercase hex SHA-256 of the first `count` bytes, computed in pieces so
    /// that checking a multi-GiB download needs no multi-GiB array.
    public static func sha256(count: Int) -> String {
        var hasher = SHA256()
        var piece = [UInt8](repeating: 0, count: pieceSize)
        var offset = 0
        while offset < count {
            let length = min(pieceSize, count - offset)
            piece.withUnsafeMutableBytes { raw in
                let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<length])
                fill(slice, offset: offset)
                hasher.update(bufferPointer: UnsafeRawBufferPointer(slice))
            }
            offset += length
        }
        return hasher.finalize().hexString
    }
}

extension Sequence<UInt8> {
    /// Lowercase hex, two digits per byte.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Digests for checking what came through a tunnel, so tests need no crypto import of their own.
public enum TestDigest {
    /// Lowercase hex SHA-256 of `data`.
    public static func sha256Hex(_ data: some DataProtocol) -> String {
        SHA256.hash(data: data).hexString
    }
}
