import FuzzSupport

// Also the symbol libFuzzer's own (unused) main refers to, so the link needs it under this name.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    ChunkDecoderFuzz.check(UnsafeRawBufferPointer(start: data, count: count))
    return 0
}

runLibFuzzer(testOneInput)
