import Logging
import Relay
import Testing
import TestSupport

/// The relay facing a gateway that breaks the protocol: the bad tunnel closes, others go on.
@Suite struct GatewayFaultTests {
    private func startRelay(gateway: ScriptedGateway) async throws -> RunningRelay {
        var logger = Logger(label: "test-relay")
        logger.logLevel = .error
        return try await Relay.start(
            RelayConfiguration(
                webSocketURL: WebSocketURL("ws://127.0.0.1:\(gateway.port)/ws")!,
                sessionID: "s", token: "t", logger: logger
            )
        )
    }

    @Test(arguments: ["invalid-chunk.test", "text-frame.test"])
    func badMessageClosesOnlyItsOwnTunnel(host: String) async throws {
        let gateway = try await ScriptedGateway.start()
        let relay = try await self.startRelay(gateway: gateway)
        let healthy = try await ConnectTunnel.openEstablished(relayPort: relay.port, target: "echo.test:7")
        try await healthy.send("before")
        #expect(try await healthy.read(until: "before") == "before")

        let broken = try await RawTCPClient.connect(port: relay.port)
        try await broken.send("CONNECT \(host):443 HTTP/1.1\r\n\r\n")
        // Nothing of the gateway's reached the client yet, so it is told 502.
        #expect(try await broken.readToEndAsString().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))

        healthy.discardReceived()
        try await healthy.send("after")
        #expect(try await healthy.read(until: "after") == "after")
        await healthy.close()
        await relay.shutdown()
        await gateway.shutdown()
    }
}
