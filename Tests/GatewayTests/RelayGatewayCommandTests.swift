import Foundation
import RelayProtocol
import Gateway
import Testing
import TestSupport

/// The `relay-gateway` executable as a real process.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct RelayGatewayCommandTests {
    static let listeningPrefix = "relay-gateway listening on "

    @Test func printsTheListeningLineAndExitsZeroOnSIGTERM() async throws {
        let process = try TestProcess.start(
            try Binaries.locate("relay-gateway"), ["--listen", "127.0.0.1:0", "--token", "s1:secret", "--insecure-http"]
        )
        let line = try await process.waitForLine(containing: Self.listeningPrefix, timeout: .seconds(20))
        #expect(process.stdout.hasPrefix(line + "\n"), "the line goes to stdout, first")
        let address = try ListenAddress(parsing: String(line.dropFirst(Self.listeningPrefix.count)))
        #expect(address.host == "127.0.0.1")
        #expect(address.port > 0, "the real port, not the 0 asked for")

        // It really listens there.
        let response = try await GatewayClient.get(port: address.port, path: GatewayPath.caCertificate)
        #expect(response.status == .notFound)

        process.terminate(signal: SIGTERM)
        #expect(try await process.wait(timeout: .seconds(10)) == 0)
    }

    /// As its image runs it: not root (USER 10001). A socket option only root may set on the
    /// accepted sockets (SO_DEBUG, once passed for TCP_NODELAY) closed every connection.
    @Test func servesConnectionsWhenNotRoot() async throws {
        try #require(geteuid() == 0, "needs root to switch to another user")
        let setpriv = try #require(Tools.which("setpriv"), "setpriv (util-linux) is not installed")
        let process = try TestProcess.start(
            setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", try Binaries.locate("relay-gateway"),
                      "--listen", "127.0.0.1:0", "--token", "s1:secret", "--insecure-http"]
        )
        let line = try await process.waitForLine(containing: Self.listeningPrefix, timeout: .seconds(20))
        let address = try ListenAddress(parsing: String(line.dropFirst(Self.listeningPrefix.count)))
        let response = try await GatewayClient.get(port: address.port, path: GatewayPath.caCertificate)
        #expect(response.status == .notFound)
        process.terminate(signal: SIGTERM)
        #expect(try await process.wait(timeout: .seconds(10)) == 0)
    }

    /// `--log-format json`: every stderr line is one JSON object; a tunnel's line carries its
    /// fields. (The listening line on stdout stays plain: scripts read it.)
    @Test func jsonLogsAreOneObjectPerLine() async throws {
        let process = try TestProcess.start(
            try Binaries.locate("relay-gateway"),
            ["--listen", "127.0.0.1:0", "--token", "s1:secret", "--insecure-http", "--log-format", "json"]
        )
        let line = try await process.waitForLine(containing: Self.listeningPrefix, timeout: .seconds(20))
        let port = try ListenAddress(parsing: String(line.dropFirst(Self.listeningPrefix.count))).port
        let echo = try await EchoServer.start()
        try await GatewayClient.withTunnel(port: port, token: "secret") { tunnel in
            try await tunnel.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: BasicCredentials(session: "s1", token: "secret"))
            #expect(try await tunnel.readResponseHead() == "HTTP/1.1 200 Connection Established\r\n\r\n")
        }
        _ = try await process.waitForLine(containing: "tunnel closed", timeout: .seconds(20))
        process.terminate(signal: SIGTERM)
        #expect(try await process.wait(timeout: .seconds(10)) == 0)
        await echo.shutdown()

        let lines = process.stderr.split(separator: "\n")
        #expect(!lines.isEmpty)
        var tunnelLine: [String: Any]?
        for line in lines {
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)"
            )
            #expect(object["logger"] as? String == "relay-gateway")
            #expect(object["time"] is String && object["level"] is String)
            if object["message"] as? String == "tunnel closed" { tunnelLine = object }
        }
        let tunnel = try #require(tunnelLine)
        #expect(tunnel["outcome"] as? String == "client closed")
        #expect(tunnel["bytes_down"] is String)
        #expect(!process.stderr.contains("secret"))
    }

    @Test func exitsZeroOnSIGINTWithATunnelOpenAndPrintsIPv6InBrackets() async throws {
        let process = try TestProcess.start(
            try Binaries.locate("relay-gateway"), ["--listen", "[::1]:0", "--token", "s1:secret", "--insecure-http"]
        )
        let line: String
        do {
            line = try await process.waitForLine(containing: Self.listeningPrefix, timeout: .seconds(20))
        } catch TestProcessError.exited {
            // No IPv6 loopback on this machine: nothing to check here.
            return
        }
        #expect(line.hasPrefix(Self.listeningPrefix + "[::1]:"))

        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        let port = try ListenAddress(parsing: String(line.dropFirst(Self.listeningPrefix.count))).port
        try await GatewayClient.withTunnel(port: port, host: "::1", token: "secret") { tunnel in
            try await tunnel.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: BasicCredentials(session: "s1", token: "secret"))
            #expect(try await tunnel.readResponseHead() == "HTTP/1.1 200 Connection Established\r\n\r\n")
            process.terminate(signal: SIGINT)
            // The gateway closes the tunnel on its way out.
            _ = try await tunnel.readUntilClosed()
        }
        #expect(try await process.wait(timeout: .seconds(10)) == 0)
    }

    @Test(arguments: [
        // No token.
        ["--insecure-http"],
        // Neither TLS nor --insecure-http, both, or half of TLS.
        ["--token", "s:t"],
        ["--token", "s:t", "--insecure-http", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
        ["--token", "s:t", "--tls-cert", "c.pem"],
        // Malformed values.
        ["--token", "no-colon", "--insecure-http"],
        ["--token", "s:t", "--insecure-http", "--listen", "::1:0"],
        ["--token", "s:t", "--insecure-http", "--listen", "127.0.0.1:70000"],
        ["--token", "s:t", "--insecure-http", "--allow", "example.com"],
        ["--token", "s:t", "--insecure-http", "--deny", "*:x"],
        ["--token", "s:t", "--insecure-http", "--map-host", "nothing"],
        ["--token", "s:t", "--insecure-http", "--dial-timeout", "0"],
        ["--token", "s:t", "--insecure-http", "--max-tunnels-per-session", "0"],
        ["--token", "s:t", "--insecure-http", "--log-level", "chatty"],
        ["--token", "s:t", "--insecure-http", "--log-format", "xml"],
        ["--token", "s:t", "--token", "s:u", "--insecure-http"],
        ["--tokens-file", "/nonexistent/tokens", "--insecure-http"],
        ["--token", "s:t", "--insecure-http", "--bogus"],
    ])
    func badUsageExits64(arguments: [String]) async throws {
        let result = try await TestProcess.run(try Binaries.locate("relay-gateway"), arguments, timeout: .seconds(20))
        #expect(result.status == 64, "\(result.stderr)")
        #expect(!result.stderr.isEmpty, "says what is wrong")
        #expect(result.stdout.isEmpty)
    }

    @Test func helpShowsTheExamples() async throws {
        let result = try await TestProcess.run(try Binaries.locate("relay-gateway"), ["--help"], timeout: .seconds(20))
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        for option in ["--listen", "--token", "--tokens-file", "--tls-cert", "--tls-key", "--insecure-http", "--ca-cert", "--allow", "--deny", "--map-host"] {
            #expect(result.stdout.contains(option), "\(option)")
        }
    }

    @Test func readsATokensFileAndMapsHosts() async throws {
        let directory = try TemporaryDirectory(prefix: "gateway-command")
        defer { directory.remove() }
        let tokens = directory.file("tokens")
        try Data("# test sessions\nsession-1:token-1-secret\n\n".utf8).write(to: URL(fileURLWithPath: tokens))
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }

        let process = try TestProcess.start(
            try Binaries.locate("relay-gateway"),
            ["--listen", "127.0.0.1:0", "--tokens-file", tokens, "--insecure-http", "--map-host", "echo.test=127.0.0.1",
             "--deny", "*:1"]
        )
        let line = try await process.waitForLine(containing: Self.listeningPrefix, timeout: .seconds(20))
        let port = try ListenAddress(parsing: String(line.dropFirst(Self.listeningPrefix.count))).port
        try await GatewayClient.withTunnel(port: port, token: "token-1-secret") { tunnel in
            try await tunnel.sendConnect(target: "echo.test:\(echo.port)", credentials: TestSessions.firstCredentials, earlyData: "via map")
            #expect(try await tunnel.readResponseHead() == "HTTP/1.1 200 Connection Established\r\n\r\n")
            #expect(try await tunnel.read(count: 7) == Array("via map".utf8))
        }
        try await GatewayClient.withTunnel(port: port, token: "token-1-secret") { tunnel in
            try await tunnel.sendConnect(target: "echo.test:1", credentials: TestSessions.firstCredentials)
            #expect(try await tunnel.readResponseHead().hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        }
        process.terminate(signal: SIGTERM)
        #expect(try await process.wait(timeout: .seconds(10)) == 0)
    }
}
