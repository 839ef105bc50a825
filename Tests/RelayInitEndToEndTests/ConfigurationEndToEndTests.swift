import Foundation
import Testing
import TestSupport

/// relay-init configured the ways a container configures it, against the real stack.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct ConfigurationEndToEndTests {
    /// As an ENTRYPOINT: every setting from RELAY_INIT_* variables, no flag at all.
    @Test func configuredByEnvironmentVariablesAlone() async throws {
        try await Stack.with(.init(tlsGateway: true)) { stack in
            let environment = stack.environment([
                "RELAY_INIT_GATEWAY": stack.gatewayURL,
                "RELAY_INIT_SESSION_ID": Stack.session,
                "RELAY_INIT_ENV_FILE": stack.envFile,
                "RELAY_INIT_CA_BUNDLE": stack.caBundle,
                "RELAY_INIT_SYSTEM_CA": stack.systemCA,
                "RELAY_INIT_LISTEN": "127.0.0.1:0",
                "RELAY_INIT_FAIL_CLOSED": "1",
            ])
            let result = try await TestProcess.run(
                Stack.relayInitPath, ["--", "curl", "-sS", stack.targetURL("/hello")], environment: environment, timeout: .seconds(60)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "\(stack.report(result))")
        }
    }

    /// The token fetched from `--token-url` over https, verified against `--system-ca`.
    @Test func tokenFromAnHTTPSURL() async throws {
        let served = try TemporaryDirectory(prefix: "relay-init-e2e-token")
        defer { served.remove() }
        try await Stack.with(.init(tlsGateway: true, staticRoot: served.path)) { stack in
            try "\(stack.token)\n".write(toFile: served.file("token"), atomically: true, encoding: .utf8)
            let tokenURL = "https://127.0.0.1:\(stack.target.port)/static/token"
            let result = try await stack.runRelayInit(
                ["--token-url", tokenURL, "--log-level", "trace"],
                command: ["curl", "-sS", stack.targetURL("/hello")],
                environment: stack.environment(withToken: false)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "\(stack.report(result))")
            #expect(!result.stderr.contains(stack.token), "the token is in the log:\n\(result.stderr)")
        }
    }

    @Test(arguments: [
        ("0.0.0.0:0", "http://127.0.0.1:"),
        ("[::1]:0", "http://[::1]:"),
    ])
    func listenAddressAndTheProxyURLChildrenGet(listen: String, proxyPrefix: String) async throws {
        try await Stack.with { stack in
            let script = """
                echo "proxy=$HTTPS_PROXY port=$RELAY_INIT_PROXY_PORT"
                curl -sS "$1"
                """
            let result = try await stack.runRelayInit(
                ["--listen", listen], command: ["sh", "-c", script, "sh", stack.targetURL("/hello")]
            )
            #expect(result.status == 0, "\(stack.report(result))")
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let port = lines.first?.split(separator: "=").last ?? ""
            #expect(lines.first == "proxy=\(proxyPrefix)\(port) port=\(port)", "\(stack.report(result))")
            #expect(lines.dropFirst().joined(separator: "\n") == "hello from target\n", "\(stack.report(result))")
            // Reachable from elsewhere: SPEC §2 allows it, relay-init warns (issue #4's security rule).
            let warned = result.stderr.contains("warning") && result.stderr.contains("not only on loopback")
            #expect(warned == listen.hasPrefix("0.0.0.0"), "\(stack.report(result))")
        }
    }

    @Test func childKilledBySignalGives128PlusN() async throws {
        try await Stack.with { stack in
            let result = try await stack.runRelayInit(command: ["sh", "-c", "curl -sS \"$1\" && kill -KILL $$", "sh", stack.targetURL("/hello")])
            #expect(result.status == SpecLists.ExitCode.killedBySignal(SIGKILL), "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "\(stack.report(result))")
            #expect(!fileExists(stack.envFile))
        }
    }

    @Test func commandNotFoundGives127AndTearsDown() async throws {
        try await Stack.with { stack in
            let name = "relay-init-no-such-command-\(UUID().uuidString.prefix(8))"
            let result = try await stack.runRelayInit(command: [name])
            #expect(result.status == SpecLists.ExitCode.notFound, "\(stack.report(result))")
            #expect(result.stderr.contains(name), "\(stack.report(result))")
            #expect(!fileExists(stack.envFile))
        }
    }

    @Test func commandNotExecutableGives126() async throws {
        try await Stack.with { stack in
            let script = stack.directory.file("not-executable.sh")
            try "#!/bin/sh\necho ran\n".write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o644)
            let result = try await stack.runRelayInit(command: [script])
            #expect(result.status == SpecLists.ExitCode.notExecutable, "\(stack.report(result))")
            #expect(result.stderr.contains(script), "\(stack.report(result))")
            #expect(!result.stdout.contains("ran"))
            #expect(!fileExists(stack.envFile))
        }
    }
}
