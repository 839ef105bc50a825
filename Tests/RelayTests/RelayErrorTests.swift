import Logging
import NIOCore
import NIOPosix
import Relay
import Testing
import TestSupport

/// The relay's own answers, with real sockets: everything it says before a tunnel exists.
@Suite struct RelayErrorTests {
    private func startRelay(webSocketURL: String, handshakeTimeout: TimeAmount = .seconds(10)) async throws -> RunningRelay {
        try await Relay.start(
            RelayConfiguration(
                webSocketURL: try #require(WebSocketURL(webSocketURL)),
                sessionID: "session", token: "secret-token",
                handshakeTimeout: handshakeTimeout
            )
        )
    }

    private func exchange(_ request: String, relay: RunningRelay) async throws -> String {
        let client = try await RawTCPClient.connect(port: relay.port)
        defer { Task { await client.close() } }
        try await client.send(request)
        return try await client.readToEndAsString()
    }

    @Test(arguments: [
        ("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"),
        ("CONNECT example.test HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        ("CONNECT example.test:0 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        ("CONNECT example.test:443 HTTP/2\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        ("SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
    ])
    func badHeadsGetTheirStatusAndTheConnectionIsClosed(request: String, statusLine: String) async throws {
        let relay = try await self.startRelay(webSocketURL: "ws://127.0.0.1:1/ws")
        let response = try await self.exchange(request, relay: relay)
        #expect(response.hasPrefix(statusLine))
        #expect(response.contains("Connection: close\r\n"))
        if statusLine.contains("405") { #expect(response.contains("Allow: CONNECT\r\n")) }
        await relay.shutdown()
    }

    @Test func oversizedHeadIs431AsSoonAs8192BytesArrive() async throws {
        let relay = try await self.startRelay(webSocketURL: "ws://127.0.0.1:1/ws")
        let client = try await RawTCPClient.connect(port: relay.port)
        // Never finish the head: the answer must come from the byte count alone.
        try await client.send("CONNECT example.test:443 HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 8200))
        let response = try await client.readToEndAsString()
        #expect(response.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        await client.close()
        await relay.shutdown()
    }

    @Test func refusedGatewayIs502() async throws {
        let port = try await refusedPort()
        let relay = try await self.startRelay(webSocketURL: "ws://127.0.0.1:\(port)/ws")
        let response = try await self.exchange("CONNECT example.test:443 HTTP/1.1\r\n\r\n", relay: relay)
        #expect(response.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        await relay.shutdown()
    }

    @Test func gatewayThatNeverAnswersTheUpgradeIs504WithinTheTimeout() async throws {
        let silent = try await SilentServer.start()
        let relay = try await self.startRelay(webSocketURL: "ws://127.0.0.1:\(silent.port)/ws", handshakeTimeout: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await self.exchange("CONNECT example.test:443 HTTP/1.1\r\n\r\n", relay: relay)
        let elapsed = clock.now - start
        #expect(response.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
        #expect(elapsed >= .milliseconds(300))
        // Well under the read's own 20 s limit: the timeout fired, nothing hung (generous for loaded CI machines).
        #expect(elapsed < TestTime.scaled(.seconds(15)))
        #expect(silent.acceptedConnections == 1)
        await relay.shutdown()
        await silent.shutdown()
    }

    @Test func clientLeavingDuringTheHandshakeAbandonsTheWebSocket() async throws {
        let silent = try await SilentServer.start()
        let relay = try await self.startRelay(webSocketURL: "ws://127.0.0.1:\(silent.port)/ws", handshakeTimeout: .seconds(60))
        let client = try await RawTCPClient.connect(port: relay.port)
        try await client.send("CONNECT example.test:443 HTTP/1.1\r\n\r\n")
        try await silent.waitForAcceptedConnections(1)
        await client.close()
        // The relay closes its half-open WebSocket connection long before the 60 s timeout.
        try await silent.waitForOpenConnections(0, timeout: .seconds(10))
        try await waitUntil("the relay to forget the client") { relay.openConnections == 0 }
        await relay.shutdown()
        await silent.shutdown()
    }

    @Test func shutdownStopsAccepting() async throws {
        let relay = try await self.startRelay(webSocketURL: "ws://127.0.0.1:1/ws")
        let port = relay.port
        await relay.shutdown()
        await #expect(throws: (any Error).self) { try await RawTCPClient.connect(port: port) }
    }

    @Test func webSocketURLParsing() throws {
        let url = try #require(WebSocketURL("wss://gw.example:8443/v1/code/upstreamproxy/ws?x=1"))
        #expect(url.isSecure && url.host == "gw.example" && url.port == 8443)
        #expect(url.pathAndQuery == "/v1/code/upstreamproxy/ws?x=1")
        #expect(url.hostHeader == "gw.example:8443")
        let v6 = try #require(WebSocketURL("ws://[::1]/ws"))
        #expect(v6.host == "::1" && v6.port == 80 && v6.hostHeader == "[::1]")
        #expect(WebSocketURL("wss://gw.example")?.pathAndQuery == "/")
        #expect(WebSocketURL("http://gw.example/ws") == nil)
        #expect(WebSocketURL("ws://gw.example:0/ws") == nil)
        #expect(WebSocketURL("ws://[::1/ws") == nil)
        #expect(WebSocketURL("ws:///ws") == nil)
    }
}
