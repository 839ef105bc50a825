import Foundation
import Testing
import TestSupport

/// `relay-init … -- COMMAND` with a real gateway process, a real HTTPS target and real curl.
/// The clients trust the target's CA only through the variables relay-init exports: they
/// run with a minimal environment and never get `--cacert`.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct WrapModeEndToEndTests {
    @Test func curlReachesTheTargetThroughAnHTTPGateway() async throws {
        try await Stack.with { stack in
            let result = try await stack.runRelayInit(command: ["curl", "-sS", stack.targetURL("/hello")])
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "\(stack.report(result))")
            // The env file lives as long as the relay; the bundle stays for later shells.
            #expect(!fileExists(stack.envFile))
            #expect(readFile(stack.caBundle)?.contains(stack.ca.certificatePEM) == true)
        }
    }

    @Test func exitCodeOfTheCommandPassesThrough() async throws {
        try await Stack.with { stack in
            let result = try await stack.runRelayInit(
                command: ["sh", "-c", "curl -sS \"$1\"; exit 3", "sh", stack.targetURL("/hello")]
            )
            #expect(result.status == 3, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "\(stack.report(result))")
        }
    }

    @Test func deadChildTearsTheRelayDown() async throws {
        try await Stack.with { stack in
            let portFile = stack.directory.file("port")
            let result = try await stack.runRelayInit(command: [
                "sh", "-c", "echo \"$RELAY_INIT_PROXY_PORT\" > \"$1\" && curl -sS \"$2\"", "sh", portFile, stack.targetURL("/hello"),
            ])
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "the relay was up while the child ran: \(stack.report(result))")
            let port = try #require(readFile(portFile).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            #expect(!canConnect(port: port), "the relay still listens on \(port) after relay-init exited")
            #expect(!fileExists(stack.envFile), "the env file outlived relay-init")
        }
    }

    /// A tunnel still open when the child exits (a client the child left behind) is
    /// closed at once: relay-init neither waits for it nor leaves it running. The child
    /// stamps its exit and the client the tunnel's end, so the test's own scheduling does
    /// not enter the measurement.
    @Test func deadChildClosesOpenTunnels() async throws {
        let python = try await Python.executable()
        try await Stack.with { stack in
            let report = stack.directory.path
            let script = """
                "$1" -c "$2" "$3" "$4" </dev/null >/dev/null 2>&1 &
                while [ ! -e "$3/tunnel.open" ]; do sleep 0.02; done
                date +%s.%N > "$3/child.exited"
                exit 4
                """
            let result = try await stack.runRelayInit(command: [
                "sh", "-c", script, "sh", python, IdleTunnel.script, report, "target.test:\(stack.target.port)",
            ])
            #expect(result.status == 4, "\(stack.report(result))")
            let answer = readFile(IdleTunnel.openFile(report)) ?? ""
            #expect(answer.hasPrefix("HTTP/1.1 200 "), "\(answer)\n\(stack.report(result))")

            try await waitUntil("the tunnel to close", timeout: .seconds(10)) { fileExists(IdleTunnel.closedFile(report)) }
            let exited = try #require(readFile(report + "/child.exited").flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            let closed = try #require(IdleTunnel.closedAt(report), "\(readFile(IdleTunnel.closedFile(report)) ?? "")")
            // A grace period for tunnels (as a sidecar's 5 s) would show here.
            #expect(closed - exited < TestTime.scaled(seconds: 4), "the tunnel closed \(closed - exited) s after the child exited")
        }
    }

    @Test func tokenFromAFileIsUsedDeletedAndNeverLeaks() async throws {
        try await Stack.with { stack in
            let tokenFile = stack.directory.file("session_token")
            #expect(FileManager.default.createFile(atPath: tokenFile, contents: Data("\(stack.token)\n".utf8), attributes: [.posixPermissions: 0o600]))
            let report = stack.directory.path
            let script = """
                env > "$1/child.env"
                cp "$2" "$1/envfile.copy"
                if [ -e "$3" ]; then echo token-file-present; else echo token-file-deleted; fi
                curl -sS "$4"
                """
            let result = try await stack.runRelayInit(
                ["--token-file", tokenFile, "--log-level", "trace"],
                command: ["sh", "-c", script, "sh", report, stack.envFile, tokenFile, stack.targetURL("/hello")],
                environment: stack.environment(withToken: false)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "token-file-deleted\nhello from target\n", "\(stack.report(result))")
            #expect(!fileExists(tokenFile), "the token file is still there")

            let childEnvironment = try #require(readFile(report + "/child.env"))
            let envFile = try #require(readFile(report + "/envfile.copy"))
            #expect(parseEnvironment(childEnvironment)["HTTPS_PROXY"] != nil, "\(childEnvironment)")
            #expect(envFile.contains("export HTTPS_PROXY="), "\(envFile)")
            // The trace log says plenty (info alone is one line): it just never says the token.
            #expect(result.stderr.split(separator: "\n").count >= 3, "expected trace logs on stderr: \(result.stderr)")
            for (name, text) in [
                ("the child's environment", childEnvironment), ("the env file", envFile),
                ("stdout", result.stdout), ("stderr", result.stderr), ("the CA bundle", readFile(stack.caBundle) ?? ""),
            ] {
                #expect(!text.contains(stack.token), "the token appears in \(name):\n\(text)")
            }
        }
    }

    @Test func wrongSessionIDGetsTheGateways407() async throws {
        try await Stack.with { stack in
            let result = try await TestProcess.run(
                Stack.relayInitPath,
                stack.relayInitOptions(sessionID: "not-the-session") + ["--", "curl", "-sS", stack.targetURL("/hello")],
                environment: stack.environment(), timeout: .seconds(60)
            )
            #expect(result.status == 56, "\(stack.report(result))")
            #expect(result.stderr.contains("407"), "\(stack.report(result))")
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func deniedTargetGetsTheGateways403() async throws {
        try await Stack.with(.init(deny: ["target.test:*"])) { stack in
            let result = try await stack.runRelayInit(command: ["curl", "-sS", stack.targetURL("/hello")])
            #expect(result.status == 56, "\(stack.report(result))")
            #expect(result.stderr.contains("403"), "\(stack.report(result))")
            #expect(result.stdout.isEmpty)
        }
    }

    /// The gateway dies after set-up: tunnels then fail with 502, relay-init goes on
    /// supervising and still returns the child's own code.
    @Test func deadGatewayGives502AndRelayInitKeepsGoing() async throws {
        try await Stack.with { stack in
            let gate = try Gate(path: stack.directory.file("gate"))
            let script = """
                curl -sS "$2"; echo "first=$?"
                read go < "$1"
                curl -sS "$2"; echo "second=$?"
                curl -sS "$2"; echo "third=$?"
                exit 9
                """
            let relayInit = try stack.startRelayInit(command: ["sh", "-c", script, "sh", gate.path, stack.targetURL("/hello")])
            let first = try await relayInit.waitForLine(containing: "first=", timeout: .seconds(30))
            #expect(first == "first=0", "\(stack.report(relayInit))")

            try await stack.killGateway()
            gate.release()

            let status = try await relayInit.wait(timeout: .seconds(30))
            #expect(status == 9, "\(stack.report(relayInit))")
            #expect(relayInit.stdout.contains("second=56\n"), "\(stack.report(relayInit))")
            #expect(relayInit.stdout.contains("third=56\n"), "\(stack.report(relayInit))")
            #expect(relayInit.stderr.contains("curl: (56)") && relayInit.stderr.contains("502"), "\(stack.report(relayInit))")
        }
    }

    /// NO_PROXY holds the gateway's host, so a client talking to the gateway goes direct.
    /// `--proxy "$HTTPS_PROXY"` makes curl consider the relay even for plain http: only
    /// NO_PROXY keeps it direct (through the relay, a GET would get 405).
    @Test func theGatewayHostBypassesTheRelay() async throws {
        try await Stack.with { stack in
            let script = """
                echo "no_proxy=$NO_PROXY"
                curl -sS --proxy "$HTTPS_PROXY" "$1"
                """
            let result = try await stack.runRelayInit(command: [
                "sh", "-c", script, "sh", "http://127.0.0.1:\(stack.gatewayPort)/v1/code/upstreamproxy/ca-cert",
            ])
            #expect(result.status == 0, "\(stack.report(result))")
            let noProxy = result.stdout.split(separator: "\n").first { $0.hasPrefix("no_proxy=") }?.dropFirst("no_proxy=".count) ?? ""
            // The gateway is 127.0.0.1, a default entry already: the list is SPEC §4's defaults alone.
            #expect(noProxy == SpecLists.noProxyDefaults.joined(separator: ","), "\(noProxy)")
            #expect(result.stdout.contains(stack.ca.certificatePEM), "\(stack.report(result))")
        }
    }
}

/// The same over a TLS gateway: relay-init fetches the CA over `https://`, verified against
/// `--system-ca`, and opens `wss://` tunnels verified against the merged bundle.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct TLSGatewayEndToEndTests {
    @Test func curlReachesTheTargetThroughATLSGateway() async throws {
        try await Stack.with(.init(tlsGateway: true)) { stack in
            let result = try await stack.runRelayInit(
                ["--log-level", "debug"], command: ["curl", "-sS", stack.targetURL("/hello")]
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "\(stack.report(result))")
            #expect(result.stderr.contains("wss://localhost:\(stack.gatewayPort)/v1/code/upstreamproxy/ws"), "\(stack.report(result))")
        }
    }

    /// The control for the test above: a system bundle without the test CA cannot verify
    /// the gateway, so set-up fails (exit 69 with --fail-closed) and the command never runs.
    @Test func theCAFetchIsVerifiedAgainstTheSystemBundle() async throws {
        try await Stack.with(.init(tlsGateway: true)) { stack in
            let marker = stack.directory.file("ran")
            let result = try await TestProcess.run(
                Stack.relayInitPath,
                stack.relayInitOptions(systemCA: Stack.realSystemBundle) + ["--fail-closed", "--", "touch", marker],
                environment: stack.environment(), timeout: .seconds(60)
            )
            #expect(result.status == SpecLists.ExitCode.setupFailed, "\(stack.report(result))")
            #expect(result.stderr.contains("CA certificate"), "\(stack.report(result))")
            #expect(!fileExists(marker), "the command ran although set-up failed")
        }
    }
}
