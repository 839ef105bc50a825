import Gateway
import NIOCore
import NIOWebSocket
import RelayProtocol
import Testing
import TestSupport

/// Tunnels end to end: a WebSocket client speaking the relay's side of SPEC §6, the gateway,
/// and a real TCP target on loopback.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct GatewayTunnelTests {
    static let established = "HTTP/1.1 200 Connection Established\r\n\r\n"

    @Test func tunnelsBytesToTheTargetAndBack() async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: TestSessions.firstCredentials)
                #expect(try await tunnel.readResponseHead() == Self.established)
                try await tunnel.send("ping through the tunnel")
                #expect(String(decoding: try await tunnel.read(count: 23), as: UTF8.self) == "ping through the tunnel")

                // More than one chunk's worth each way: split by the gateway, reassembled here.
                let large = DeterministicBytes.bytes(count: Chunk.maximumDataLength + 100_000)
                try await tunnel.send(Array(large[..<300_000]))
                try await tunnel.send(Array(large[300_000...]))
                #expect(try await tunnel.read(count: large.count) == large)
            }
        }
    }

    @Test func earlyDataInTheHeadChunkReachesTheTarget() async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.sendConnect(
                    target: "127.0.0.1:\(echo.port)", credentials: TestSessions.firstCredentials, earlyData: "early bytes"
                )
                // Sent before the 200 arrives: held while dialling, delivered in order.
                try await tunnel.send(" and more")
                #expect(try await tunnel.readResponseHead() == Self.established)
                #expect(String(decoding: try await tunnel.read(count: 20), as: UTF8.self) == "early bytes and more")
            }
        }
    }

    @Test func theHeadMaySpanSeveralChunks() async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.send("CONNECT 127.0.0.1:\(echo.port) HTTP/1.1\r\nProxy-Author")
                try await tunnel.send("ization: \(TestSessions.firstCredentials.headerValue)\r\n\r")
                try await tunnel.send("\nhi")
                #expect(try await tunnel.readResponseHead() == Self.established)
                #expect(try await tunnel.read(count: 2) == Array("hi".utf8))
            }
        }
    }

    @Test(arguments: [
        ("wrong token", BasicCredentials(session: "session-1", token: "guess")),
        ("another session's credentials", BasicCredentials(session: "session-2", token: "token-2-secret")),
        ("unknown session", BasicCredentials(session: "nobody", token: "token-1-secret")),
        ("no credentials", nil),
    ] as [(String, BasicCredentials?)])
    func answers407ForCredentialsThatDoNotMatchTheSession(_ label: String, credentials: BasicCredentials?) async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: credentials)
                let head = try await tunnel.readResponseHead()
                #expect(head.hasPrefix("HTTP/1.1 407 Proxy Authentication Required\r\n"), "\(label)")
                #expect(head.contains("Proxy-Authenticate: Basic realm=\"relay-gateway\"\r\n"))
                #expect(head.contains("Connection: close\r\n"))
                #expect(try await tunnel.readUntilClosed().isEmpty)
                #expect(tunnel.state == .closed(.normalClosure))
            }
        }
    }

    @Test func answers403WhenThePolicyDenies() async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        let policy = AccessPolicy(deny: [try HostPattern("127.0.0.1:\(echo.port)")])
        try await withGateway(.forTests(accessPolicy: policy)) { gateway in
            let head = try await Self.responseHead(gateway: gateway, target: "127.0.0.1:\(echo.port)")
            #expect(head.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        }
        let allowOthers = AccessPolicy(allow: [try HostPattern("*.example.com:443")])
        try await withGateway(.forTests(accessPolicy: allowOthers)) { gateway in
            let head = try await Self.responseHead(gateway: gateway, target: "127.0.0.1:\(echo.port)")
            #expect(head.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        }
    }

    @Test func answers502WhenTheTargetRefuses() async throws {
        let port = try await refusedPort()
        try await withGateway { gateway in
            let head = try await Self.responseHead(gateway: gateway, target: "127.0.0.1:\(port)")
            #expect(head == "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        }
    }

    /// The target never answers the SYN (its accept queue is full), so only the dial timeout
    /// can end the attempt; nothing leaves loopback.
    @Test func answers504WhenTheDialTimesOut() async throws {
        let stalled = try await StalledListener.start()
        defer { Task { await stalled.shutdown() } }
        try await withGateway(.forTests(dialTimeout: .milliseconds(200))) { gateway in
            let head = try await Self.responseHead(gateway: gateway, target: "127.0.0.1:\(stalled.port)")
            #expect(head == "HTTP/1.1 504 Gateway Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        }
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"),
        ("CONNECT nonsense HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        ("SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
    ])
    func answersABadHeadWithTheParsersStatus(head: String, expectedStatusLine: String) async throws {
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.send(head)
                #expect(try await tunnel.readResponseHead().hasPrefix(expectedStatusLine))
                _ = try await tunnel.readUntilClosed()
            }
        }
    }

    @Test func answers431ForAnOversizedHead() async throws {
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.send("CONNECT example.com:443 HTTP/1.1\r\nX-Padding: " + String(repeating: "a", count: 9000))
                #expect(try await tunnel.readResponseHead().hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
            }
        }
    }

    @Test func mapsHostNamesToAddresses() async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        try await withGateway(.forTests(mapHost: ["Echo.Test": "127.0.0.1"])) { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.sendConnect(target: "echo.test:\(echo.port)", credentials: TestSessions.firstCredentials)
                #expect(try await tunnel.readResponseHead() == Self.established)
                try await tunnel.send("mapped")
                #expect(try await tunnel.read(count: 6) == Array("mapped".utf8))
            }
        }
    }

    @Test func anInvalidChunkClosesOnlyItsOwnTunnel() async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { healthy in
                try await healthy.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: TestSessions.firstCredentials)
                #expect(try await healthy.readResponseHead() == Self.established)

                try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { broken in
                    try await broken.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: TestSessions.firstCredentials)
                    #expect(try await broken.readResponseHead() == Self.established)
                    // Field 1 claiming 5 bytes with only 1 present.
                    try await broken.sendMessage(ByteBuffer(bytes: [0x0A, 0x05, 0x01]))
                    _ = try await broken.readUntilClosed()
                    #expect(broken.state == .closed(.unacceptableData))
                }

                try await healthy.send("still alive")
                #expect(try await healthy.read(count: 11) == Array("still alive".utf8))
            }
        }
    }

    @Test func theTargetClosingClosesTheTunnelAfterItsLastBytes() async throws {
        let echo = try await EchoServer.start()
        try await withGateway { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
                try await tunnel.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: TestSessions.firstCredentials)
                #expect(try await tunnel.readResponseHead() == Self.established)
                try await tunnel.send("last words")
                #expect(try await tunnel.read(count: 10) == Array("last words".utf8))
                await echo.shutdown()
                #expect(try await tunnel.readUntilClosed().isEmpty)
                #expect(tunnel.state == .closed(.normalClosure))
            }
        }
    }

    @Test func shutdownClosesOpenTunnels() async throws {
        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        let gateway = try await Gateway.start(.forTests())
        try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
            try await tunnel.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: TestSessions.firstCredentials)
            #expect(try await tunnel.readResponseHead() == Self.established)
            await gateway.shutdown()
            _ = try await tunnel.readUntilClosed()
            #expect(tunnel.state == .closed(.normalClosure))
        }
        // And nothing listens any more.
        await #expect(throws: (any Error).self) {
            _ = try await GatewayClient.get(port: gateway.port, path: GatewayPath.caCertificate)
        }
    }

    // MARK: Helpers

    /// Opens a tunnel to `target` with good credentials and returns the gateway's answer,
    /// checking that the gateway then closes the tunnel.
    private static func responseHead(gateway: RunningGateway, target: String) async throws -> String {
        try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { tunnel in
            try await tunnel.sendConnect(target: target, credentials: TestSessions.firstCredentials)
            let head = try await tunnel.readResponseHead()
            #expect(try await tunnel.readUntilClosed().isEmpty)
            return head
        }
    }
}
