import Foundation
import Testing
import TestSupport

/// `relay-init` without a command: it relays until SIGTERM/SIGINT, and other processes
/// pick the proxy up by sourcing the env file.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct SidecarEndToEndTests {
    /// Waits until the sidecar's env file is complete (no event announces a file: poll it),
    /// failing early with the sidecar's output if it exits instead.
    static func waitForEnvFile(_ stack: Stack, sidecar: RunningProcess) async throws {
        try await waitUntil("the env file \(stack.envFile) with HTTPS_PROXY", timeout: .seconds(30)) {
            if let status = sidecar.exitStatus {
                throw HarnessError("the sidecar exited with \(status) before writing the env file\n\(stack.report(sidecar))")
            }
            return readFile(stack.envFile)?.contains("HTTPS_PROXY") == true
        }
    }

    /// A client in another process: a shell that sources the env file, then runs `command`.
    static func sourcingShell(_ stack: Stack, _ command: String, _ arguments: [String]) -> [String] {
        ["-c", ". \"$0\" && \(command)", stack.envFile] + arguments
    }

    /// Paths a shell must not misread: the env file quotes them.
    static let awkwardRunDirectory = #"run dir 'quoted' $HOME `true` \"#

    @Test(arguments: [SIGTERM, SIGINT])
    func sourcedEnvFileWorksUntilStopped(signal: Int32) async throws {
        try await Stack.with(.init(runDirectory: Self.awkwardRunDirectory)) { stack in
            let sidecar = try stack.startRelayInit()
            try await Self.waitForEnvFile(stack, sidecar: sidecar)

            // The client has no proxy or CA of its own: everything comes from the env file.
            let client = try await TestProcess.run(
                "sh", Self.sourcingShell(stack, "curl -sS \"$1\" && printf '%s\\n' \"$CURL_CA_BUNDLE\"", [stack.targetURL("/hello")]),
                environment: TestProcess.minimalEnvironment(), timeout: .seconds(30)
            )
            #expect(client.status == 0, "curl: \(client.stderr)\n\(stack.report(sidecar))")
            #expect(client.stdout == "hello from target\n\(stack.caBundle)\n", "\(client.stdout)")
            #expect(sidecar.exitStatus == nil, "a sidecar keeps running after serving a tunnel")

            sidecar.terminate(signal: signal)
            let status = try await sidecar.wait(timeout: .seconds(15))
            #expect(status == 0, "\(stack.report(sidecar))")
            #expect(!fileExists(stack.envFile), "the env file outlived the sidecar")
        }
    }

    /// SIGTERM with a download in progress: relay-init stops accepting, lets the tunnel
    /// finish (well within the 5 s it grants), then exits 0. The client holds the rest of
    /// the download back until it sees the relay refuse connections, so the tunnel is
    /// certainly open while relay-init drains, however slow the test process is.
    @Test func stopWaitsForAnOpenTunnelToFinish() async throws {
        let python = try await Python.executable()
        try await Stack.with { stack in
            let sidecar = try stack.startRelayInit()
            try await Self.waitForEnvFile(stack, sidecar: sidecar)

            // The 5 s grace is relay-init's and does not stretch: on a slower machine (a larger
            // TestTime.scale) the download that must fit in it shrinks instead.
            let size = Int(Double(8 << 20) / TestTime.scale)
            let report = stack.directory.path
            let client = try TestProcess.start(
                "sh",
                Self.sourcingShell(stack, "exec \"$1\" -c \"$2\" \"$3\" \"$4\" \"$5\"", [
                    python, DrainClient.script, report, "target.test:\(stack.target.port)", "/bytes/\(size)",
                ]),
                environment: TestProcess.minimalEnvironment()
            )
            try await waitUntil("the download to start", timeout: .seconds(30)) {
                if let status = client.exitStatus {
                    throw HarnessError("the client ended with \(status): \(client.stderr)\n\(stack.report(sidecar))")
                }
                return fileExists(report + "/download.started")
            }

            sidecar.terminate(signal: SIGTERM)
            let clientStatus = try await client.wait(timeout: .seconds(30))
            let sidecarStatus = try await sidecar.wait(timeout: .seconds(15))
            #expect(clientStatus == 0, "client: \(client.stderr)\n\(stack.report(sidecar))")
            #expect(
                readFile(report + "/download.done") == "\(HTTPSTarget.expectedSHA256(count: size)) \(size)",
                "the download was cut: \(readFile(report + "/download.done") ?? "nothing")\n\(stack.report(sidecar))"
            )
            #expect(sidecarStatus == 0, "\(stack.report(sidecar))")
            #expect(!fileExists(stack.envFile))
        }
    }

    /// A tunnel that stays open (an idle CONNECT tunnel: no buffered bytes hide its end)
    /// is cut at the 5 s bound; relay-init still exits 0. The client stamps the moment it
    /// sees the end, so the test's own scheduling does not enter the measurement.
    @Test func stopGivesOpenTunnelsAtMostFiveSeconds() async throws {
        let python = try await Python.executable()
        try await Stack.with { stack in
            let sidecar = try stack.startRelayInit()
            try await Self.waitForEnvFile(stack, sidecar: sidecar)

            let report = stack.directory.path
            let client = try TestProcess.start(
                "sh", Self.sourcingShell(stack, "exec \"$1\" -c \"$2\" \"$3\" \"$4\"", [python, IdleTunnel.script, report, "target.test:\(stack.target.port)"]),
                environment: TestProcess.minimalEnvironment()
            )
            try await waitUntil("the tunnel to open", timeout: .seconds(30)) {
                fileExists(IdleTunnel.openFile(report)) || client.exitStatus != nil
            }
            let answer = readFile(IdleTunnel.openFile(report)) ?? ""
            #expect(answer.hasPrefix("HTTP/1.1 200 "), "\(answer)\n\(client.stderr)\n\(stack.report(sidecar))")

            let stopped = Date().timeIntervalSince1970
            sidecar.terminate(signal: SIGTERM)
            let sidecarStatus = try await sidecar.wait(timeout: .seconds(20))
            #expect(sidecarStatus == 0, "\(stack.report(sidecar))")
            #expect(try await client.wait(timeout: .seconds(10)) == 0, "\(client.stderr)")
            let closed = try #require(IdleTunnel.closedAt(report), "\(readFile(IdleTunnel.closedFile(report)) ?? "no close seen")")
            let elapsed = closed - stopped
            // The stamp precedes the signal, so load can only lengthen `elapsed`: the lower
            // bound (the grace honoured) holds on any machine; the upper one scales.
            #expect(elapsed >= 4.5, "the tunnel was closed \(elapsed) s after SIGTERM, without the 5 s grace")
            #expect(elapsed < TestTime.scaled(seconds: 10), "the tunnel was closed only \(elapsed) s after SIGTERM")
            #expect(!fileExists(stack.envFile))
        }
    }
}
