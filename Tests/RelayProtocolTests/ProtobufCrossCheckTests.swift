import Foundation
import NIOCore
import TestSupport
import Testing

@testable import RelayProtocol

/// The codec against Google's protobuf runtime (Python `protobuf` package), in both directions.
/// Sizes and bytes are random but seeded: each test prints its `RELAY_INIT_TEST_SEED` to replay.
@Suite struct ProtobufCrossCheckTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("protobuf_crosscheck.py").path

    private func python(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CrossCheckFailure(output: text)
        }
        return text
    }

    struct CrossCheckFailure: Error, CustomStringConvertible {
        var output: String
        var description: String { "protobuf_crosscheck.py failed:\n\(self.output)" }
    }

    private func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("chunks-\(UUID().uuidString)").path
    }

    private func appendRecord(_ bytes: ByteBuffer, to file: inout Data) {
        var length = UInt32(bytes.readableBytes).bigEndian
        file.append(Data(bytes: &length, count: 4))
        file.append(contentsOf: bytes.readableBytesView)
    }

    @Test func protobufDecodesWhatWeEncode() throws {
        var generator = SeededRandom(for: "protobufDecodesWhatWeEncode")
        let sizes = [0, 1, 127, 128, 16383, 16384, 512 * 1024] + (0..<300).map { _ in Int.random(in: 0..<70_000, using: &generator) }
        var file = Data()
        for size in sizes {
            let data = ByteBuffer(bytes: (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) })
            // The data path's way: header into its own buffer, payload untouched after it.
            var message = ByteBuffer()
            Chunk.writeHeader(dataLength: data.readableBytes, to: &message)
            message.writeImmutableBuffer(data)
            self.appendRecord(data, to: &file)
            self.appendRecord(message, to: &file)
        }
        let path = self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try file.write(to: URL(fileURLWithPath: path))
        #expect(try self.python(["decode", path]).contains("decoded \(sizes.count) messages"), "seed \(generator.seed)")
    }

    @Test func weDecodeWhatProtobufEncodes() throws {
        let path = self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var generator = SeededRandom(for: "weDecodeWhatProtobufEncodes")
        // The script seeds Python's own generator with this, so its messages replay too.
        _ = try self.python(["encode", path, "300", String(Int.random(in: 0..<1_000_000, using: &generator))])
        var records = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
        var count = 0
        while records.readableBytes > 0 {
            let expected = records.readLengthPrefixedSlice(as: UInt32.self)!
            let message = records.readLengthPrefixedSlice(as: UInt32.self)!
            #expect(try Chunk.decode(message) == expected, "message \(count), seed \(generator.seed)")
            count += 1
        }
        #expect(count == 300)
    }
}
