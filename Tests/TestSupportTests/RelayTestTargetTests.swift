import Foundation
import Testing
import TestSupport

/// The `relay-test-target` executable as the demo script uses it.
@Suite struct RelayTestTargetTests {
    @Test func servesWithItsOwnCAAndStopsOnSIGTERM() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let process = try TestProcess.start(
            Binaries.path("relay-test-target"), ["--cert-dir", directory.path, "--names", "target.test"]
        )
        let line = try await process.waitForLine(containing: "relay-test-target listening on")
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0) })
        #expect(line == "relay-test-target listening on 127.0.0.1:\(port)")

        let result = try await TestProcess.run(
            "curl", [
                "--silent", "--show-error", "--cacert", directory.file("ca.pem"),
                "--resolve", "target.test:\(port):127.0.0.1", "https://target.test:\(port)/hello",
            ],
            environment: TestProcess.minimalEnvironment(), timeout: .seconds(20)
        )
        #expect(result.stdout == "hello from target\n", "\(result.stderr)")

        process.terminate(signal: SIGTERM)
        #expect(try await process.wait(timeout: .seconds(10)) == 0)
    }

    @Test func binaryLookupNamesWhatIsMissing() {
        #expect(throws: Binaries.Error.self) {
            _ = try Binaries.locate("no-such-product")
        }
        #expect(Binaries.path("relay-test-target").hasPrefix("/"))
    }
}
