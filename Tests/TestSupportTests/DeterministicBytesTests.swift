import Testing
import TestSupport

@Suite struct DeterministicBytesTests {
    @Test func fillAtAnyOffsetAgreesWithTheByteFormula() {
        // Unaligned offsets and lengths exercise the head/word/tail paths of `fill`.
        for (offset, count) in [(0, 0), (0, 17), (3, 5), (5, 64), (8, 8), (65_531, 300)] {
            let expected = (offset..<offset + count).map(DeterministicBytes.byte(at:))
            #expect(DeterministicBytes.bytes(count: count, offset: offset) == expected, "offset \(offset) count \(count)")
        }
    }

    @Test func streamedDigestEqualsDigestOfTheWholeArray() {
        // Not a multiple of the 64 KiB piece size, so the last piece is partial.
        let count = 3 * DeterministicBytes.pieceSize + 12_345
        #expect(HTTPSTarget.expectedSHA256(count: count) == TestDigest.sha256Hex(HTTPSTarget.expectedBytes(count: count)))
        #expect(HTTPSTarget.expectedSHA256(count: 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func contentDoesNotRepeatAtPowerOfTwoDistances() {
        // A relay that drops or repeats an aligned block must change the digest.
        let first = DeterministicBytes.bytes(count: 64, offset: 0)
        for shift in [1 << 16, 1 << 20, 1 << 21, 1 << 24] {
            #expect(DeterministicBytes.bytes(count: 64, offset: shift) != first, "period \(shift)")
        }
    }
}
