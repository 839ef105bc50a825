import Foundation
import Orchestrator
import TestSupport
import Testing

/// Full set-up against a stand-in gateway: a plain HTTP server that serves the CA. The relay
/// only dials the gateway when a client connects, so set-up completes without a real one.
@Suite struct WrapModeTests {
    struct Fixture {
        let directory: TemporaryDirectory
        let server: FakeHTTPServer
        let systemCA: String

        static func make() async throws -> Fixture {
            let directory = try TemporaryDirectory()
            let server = try await FakeHTTPServer.start(root: directory.file("www"))
            try server.serve(PEMFixtures.caA, at: "v1/code/upstreamproxy/ca-cert")
            let systemCA = directory.file("system.pem")
            try PEMFixtures.caB.write(toFile: systemCA, atomically: true, encoding: .utf8)
            return Fixture(directory: directory, server: server, systemCA: systemCA)
        }

        var envFile: String { self.directory.file("run/proxy.env") }
        var bundle: String { self.directory.file("run/ca-bundle.crt") }

        func environment(_ extra: [String: String] = [:]) -> [String: String] {
            [
                "RELAY_INIT_GATEWAY": self.server.baseURL,
                "RELAY_INIT_SESSION_ID": "session-1",
                "RELAY_INIT_ENV_FILE": self.envFile,
                "RELAY_INIT_CA_BUNDLE": self.bundle,
                "RELAY_INIT_SYSTEM_CA": self.systemCA,
            ].merging(extra) { $1 }
        }

        func tearDown() {
            self.server.stop()
            self.directory.remove()
        }
    }

    /// What the child saw, written by the child itself into files.
    static let reportScript = #"""
        env > "$1/child.env"
        cp "$2" "$1/envfile.copy"
        for fd in /proc/$$/fd/*; do readlink "$fd"; done > "$1/child.fds"
        port=$(printf ':%04X' "$RELAY_INIT_PROXY_PORT")
        awk -v port="$port" '$2 ~ port"$" && $4 == "0A" { print $10 }' /proc/net/tcp > "$1/listen.inode"
        if [ -e "$3" ]; then echo present; else echo deleted; fi > "$1/token.state"
        """#

    static func parseEnv(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
        }
        return result
    }

    @Test func setupSucceeds() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.tearDown() }
        let token = "file-token-\(UUID().uuidString)"
        let tokenFile = fixture.directory.file("session_token")
        try "\(token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o644)
        let report = fixture.directory.path

        let result = try await RelayInitBinary.run(
            ["--token-file", tokenFile, "--no-proxy", "internal.example", "--", "sh", "-c", Self.reportScript, "sh", report, fixture.envFile, tokenFile],
            environment: fixture.environment([
                // Inherited proxies: libcurl must ignore them; HTTP_PROXY passes through unchanged.
                "HTTP_PROXY": "http://127.0.0.1:1", "http_proxy": "http://127.0.0.1:1",
                "HTTPS_PROXY": "http://127.0.0.1:1", "ALL_PROXY": "http://127.0.0.1:1",
            ])
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains(token))

        let child = Self.parseEnv(try #require(readFile(report + "/child.env")))
        let proxy = try #require(child["HTTPS_PROXY"])
        let port = try #require(child["RELAY_INIT_PROXY_PORT"])
        #expect(proxy == "http://127.0.0.1:\(port)")
        #expect(child["https_proxy"] == proxy)
        #expect(child["HTTP_PROXY"] == "http://127.0.0.1:1")
        #expect(child["NO_PROXY"] == (SpecLists.noProxyDefaults + ["internal.example"]).joined(separator: ","))
        #expect(child["no_proxy"] == child["NO_PROXY"])
        for name in SpecLists.caVariables {
            #expect(child[name] == fixture.bundle, "\(name)")
        }
        #expect(child.keys.allSatisfy { !$0.hasPrefix("RELAY_INIT_TOKEN") })
        #expect(!(readFile(report + "/child.env") ?? "").contains(token))

        // Sourcing the env file gives the same values as the child's.
        let envFileText = try #require(readFile(report + "/envfile.copy"))
        #expect(!envFileText.contains(token))
        let sourced = try await EnvFileTests.environment(afterSourcing: report + "/envfile.copy")
        for name in SpecLists.proxyVariables {
            #expect(sourced[name] == child[name], "\(name)")
        }

        // The bundle: system + "\n" + gateway CA, kept after exit; the env file is not.
        #expect(readFile(fixture.bundle) == PEMFixtures.caB + "\n" + PEMFixtures.caA)
        #expect(!FileManager.default.fileExists(atPath: fixture.envFile))

        // The token file went once the relay listened, with a warning about its mode.
        #expect(readFile(report + "/token.state") == "deleted\n")
        #expect(result.stderr.contains("readable by group or others"), "\(result.stderr)")

        // Neither the relay's listening socket nor NIO's epoll/eventfd descriptors leaked into
        // the child. (Descriptors relay-init itself inherited may pass on; the test runner has some.)
        let descriptors = try #require(readFile(report + "/child.fds"))
        let listenInode = try #require(readFile(report + "/listen.inode")?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(!listenInode.isEmpty)
        #expect(!descriptors.contains("socket:[\(listenInode)]"), "\(descriptors)")
        #expect(!descriptors.contains("anon_inode"), "\(descriptors)")

        #expect(await fixture.server.requestCount("/v1/code/upstreamproxy/ca-cert", expected: 1) == 1)
    }

    @Test func tokenFromAURLAndTheEnvironmentTokenWins() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.tearDown() }
        try fixture.server.serve("url-token\n", at: "token")
        let command = ["--", "sh", "-c", "echo port=$RELAY_INIT_PROXY_PORT; env"]

        let byURL = try await RelayInitBinary.run(command, environment: fixture.environment(["RELAY_INIT_TOKEN_URL": fixture.server.baseURL + "/token"]))
        #expect(byURL.status == 0, "\(byURL.stderr)")
        #expect(byURL.stdout.contains("HTTPS_PROXY=http://127.0.0.1:"))
        #expect(!byURL.stdout.contains("url-token") && !byURL.stderr.contains("url-token"))
        #expect(await fixture.server.requestCount("/token", expected: 1) == 1)

        let byVariable = try await RelayInitBinary.run(
            command,
            environment: fixture.environment(["RELAY_INIT_TOKEN_URL": fixture.server.baseURL + "/token", "RELAY_INIT_TOKEN": "env-token-xyz"])
        )
        #expect(byVariable.status == 0, "\(byVariable.stderr)")
        // A negative check: give a stray request half a second to show up.
        #expect(await fixture.server.requestCount("/token", expected: 2, wait: .milliseconds(500)) == 1, "chosen, not searched: the URL is not asked")
        #expect(!byVariable.stdout.contains("env-token-xyz") && !byVariable.stderr.contains("env-token-xyz"))
        #expect(!byVariable.stdout.contains("RELAY_INIT_TOKEN="))
    }

    @Test func failedSetupKeepsTheTokenFile() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.tearDown() }
        let tokenFile = fixture.directory.file("session_token")
        try "kept-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        let result = try await RelayInitBinary.run(
            ["--token-file", tokenFile, "--ca-url", fixture.server.baseURL + "/status/404", "--", "true"],
            environment: fixture.environment()
        )
        #expect(result.status == 0)
        #expect(result.stderr.contains("HTTP 404"), "\(result.stderr)")
        #expect(!result.stderr.contains("readable by group"))
        #expect(readFile(tokenFile) == "kept-token", "kept so that a restart can retry")
    }

    @Test func aNonPEMCABodyIsShownWithoutTheToken() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.tearDown() }
        // Long enough that the 60-byte quote would cut it: no prefix of it may show either.
        let token = "echoed-token-\(UUID().uuidString)-\(UUID().uuidString)"
        try fixture.server.serve("<html>\(token)</html>", at: "echo")
        let result = try await RelayInitBinary.run(
            ["--ca-url", fixture.server.baseURL + "/echo", "--", "true"],
            environment: fixture.environment(["RELAY_INIT_TOKEN": token])
        )
        #expect(result.status == 0)
        #expect(result.stderr.contains("did not return PEM certificates"), "\(result.stderr)")
        #expect(result.stderr.contains("starting \"<html><token>"), "\(result.stderr)")
        #expect(!result.stderr.contains(String(token.prefix(20))))
    }

    @Test(arguments: [("0.0.0.0:0", "http://127.0.0.1:"), ("[::1]:0", "http://[::1]:"), ("[::]:0", "http://[::1]:")])
    func proxyURLForListenAddress(listen: String, prefix: String) async throws {
        let fixture = try await Fixture.make()
        defer { fixture.tearDown() }
        let result = try await RelayInitBinary.run(
            ["--listen", listen, "--", "sh", "-c", "echo \"proxy=$HTTPS_PROXY\""],
            environment: fixture.environment(["RELAY_INIT_TOKEN": "t0k3n-value"])
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("proxy=\(prefix)"), "\(result.stdout) \(result.stderr)")
    }
}

@Suite struct SidecarTests {
    @Test(arguments: [SIGTERM, SIGINT])
    func runsUntilStoppedThenExits0(signal: Int32) async throws {
        let fixture = try await WrapModeTests.Fixture.make()
        defer { fixture.tearDown() }
        let sidecar = try RelayInitBinary.start([], environment: fixture.environment(["RELAY_INIT_TOKEN": "sidecar-token"]))
        _ = try await sidecar.waitForLine(containing: "relay listening on", timeout: .seconds(30))
        let envFile = try #require(readFile(fixture.envFile))
        #expect(envFile.contains("export HTTPS_PROXY='http://127.0.0.1:"))

        // SIGHUP does not stop a sidecar (nothing to forward it to); were it fatal, the exit would be 129.
        kill(sidecar.pid, SIGHUP)
        kill(sidecar.pid, signal)
        #expect(try await sidecar.wait(timeout: .seconds(30)) == SpecLists.ExitCode.sidecarStopped, "\(sidecar.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.envFile))
        #expect(!sidecar.stderr.contains("sidecar-token"))
    }

    @Test func setupFailureExits69WithoutEnvFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try await RelayInitBinary.run([], environment: RelayInitBinary.unreachableGateway(directory))
        #expect(result.status == SpecLists.ExitCode.setupFailed, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("proxy.env")))
    }
}
