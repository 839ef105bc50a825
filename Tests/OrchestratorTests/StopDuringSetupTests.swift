import Foundation
import Testing
import TestSupport

/// A stop request while a fetch hangs: relay-init stops at once, not after the fetch's
/// timeouts and retries (about 45 s), since container runtimes SIGKILL ~10 s after SIGTERM.
@Suite struct StopDuringSetupTests {
    /// Starts relay-init against a CA endpoint that accepts the connection and never answers,
    /// and returns once the fetch is hanging there.
    private func startHanging(_ command: [String], directory: TemporaryDirectory, silent: SilentServer) async throws -> RunningProcess {
        var environment = RelayInitBinary.unreachableGateway(directory)
        environment["RELAY_INIT_CA_URL"] = "http://127.0.0.1:\(silent.port)/ca-cert"
        let relayInit = try RelayInitBinary.start(command, environment: environment)
        try await silent.waitForAcceptedConnections(1, timeout: .seconds(30))
        return relayInit
    }

    @Test(arguments: [SIGTERM, SIGINT, SIGHUP, SIGQUIT])
    func wrapperStopsAtOnceWithoutRunningTheCommand(signal: Int32) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let silent = try await SilentServer.start()
        let marker = directory.file("ran")
        let relayInit = try await self.startHanging(["--", "touch", marker], directory: directory, silent: silent)
        kill(relayInit.pid, signal)
        // Far below the ~45 s the hanging fetch would take with its retries.
        #expect(try await relayInit.wait(timeout: .seconds(15)) == 128 + signal, "\(relayInit.stderr)")
        #expect(relayInit.stderr.contains("received signal \(signal) during set-up"))
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(!FileManager.default.fileExists(atPath: directory.file("proxy.env")))
        await silent.shutdown()
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func sidecarStopsAtOnceWithZero(signal: Int32) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let silent = try await SilentServer.start()
        let relayInit = try await self.startHanging([], directory: directory, silent: silent)
        kill(relayInit.pid, signal)
        #expect(try await relayInit.wait(timeout: .seconds(15)) == 0, "\(relayInit.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("proxy.env")))
        await silent.shutdown()
    }

    @Test func tokenFileIsKeptWhenSetUpIsStopped() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let silent = try await SilentServer.start()
        let tokenFile = directory.file("session_token")
        try "file-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        var environment = RelayInitBinary.unreachableGateway(directory)
        environment["RELAY_INIT_TOKEN"] = nil
        environment["RELAY_INIT_TOKEN_FILE"] = tokenFile
        environment["RELAY_INIT_CA_URL"] = "http://127.0.0.1:\(silent.port)/ca-cert"
        let relayInit = try RelayInitBinary.start(["--", "true"], environment: environment)
        try await silent.waitForAcceptedConnections(1, timeout: .seconds(30))
        kill(relayInit.pid, SIGTERM)
        #expect(try await relayInit.wait(timeout: .seconds(15)) == 143)
        // Set-up did not finish: a restart must be able to read the token again.
        #expect(FileManager.default.fileExists(atPath: tokenFile))
        await silent.shutdown()
    }
}
