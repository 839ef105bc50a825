import Logging
import Relay
import Testing
import TestSupport

/// The relay's per-tunnel log line (`debug`) and its totals, from real tunnels.
@Suite struct TunnelLogTests {
    @Test func anEchoedTunnelIsLoggedWithItsBytesAndWhoClosedIt() async throws {
        let logs = LogCapture()
        let bed = try await Testbed.start(relayLogger: logs.logger(level: .debug))
        let client = try await bed.openTunnel(to: bed.echoAuthority)
        try await client.send("hello")
        #expect(try await client.read(until: "hello") == "hello")
        await client.close()

        let record = try #require(try await logs.wait(for: "tunnel closed").first)
        #expect(record.level == .debug)
        #expect(record.metadata["target"] == bed.echoAuthority)
        #expect(record.metadata["outcome"] == "client closed")
        #expect(record.metadata["bytes_up"] == "5")
        // The gateway's "HTTP/1.1 200 Connection Established\r\n\r\n" is tunnel data too.
        #expect(record.metadata["bytes_down"] == "\(39 + 5)")
        #expect(Double(record.metadata["duration_ms"] ?? "") != nil)

        var expected = RelayTotals()
        (expected.tunnels, expected.bytesUp, expected.bytesDown) = (1, 5, 44)
        #expect(bed.relay.totals == expected)
        await bed.shutdown()
    }

    @Test func theGatewayEndingATunnelIsNamed() async throws {
        let logs = LogCapture()
        let bed = try await Testbed.start(relayLogger: logs.logger(level: .debug))
        let client = try await bed.openTunnel(to: bed.echoAuthority)
        await bed.echo.shutdown()  // the target closes: the gateway ends the tunnel
        _ = try await client.readToEnd()
        let record = try #require(try await logs.wait(for: "tunnel closed").first)
        #expect(record.metadata["outcome"] == "gateway closed")
        await client.close()
        await bed.shutdown()
    }

    @Test func refusedAndFailedRequestsAreCountedAsErrors() async throws {
        let logs = LogCapture()
        let bed = try await Testbed.start(relayToken: "wrong-token", relayLogger: logs.logger(level: .debug))

        let badHead = try await RawTCPClient.connect(port: bed.relay.port)
        try await badHead.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await badHead.read(until: "\r\n").hasPrefix("HTTP/1.1 405"))
        await badHead.close()

        // The gateway refuses the wrong token at the upgrade: 502 from the relay.
        let refused = try await RawTCPClient.connect(port: bed.relay.port)
        try await refused.send("CONNECT \(bed.echoAuthority) HTTP/1.1\r\n\r\n")
        #expect(try await refused.read(until: "\r\n").hasPrefix("HTTP/1.1 502"))
        await refused.close()

        let records = try await logs.wait(for: "tunnel closed", count: 2)
        #expect(records[0].metadata["outcome"]?.hasPrefix("refused with 405") == true)
        #expect(records[0].metadata["target"] == "-")
        #expect(records[1].metadata["target"] == bed.echoAuthority)
        #expect(records[1].metadata["outcome"]?.hasPrefix("answered 502: the gateway refused the WebSocket upgrade with 401") == true)
        #expect(bed.relay.totals.tunnels == 2)
        #expect(bed.relay.totals.errors == 2)
        await bed.shutdown()
    }

    @Test func tunnelsClosedByShutdownSaySo() async throws {
        let logs = LogCapture()
        let bed = try await Testbed.start(relayLogger: logs.logger(level: .debug))
        let client = try await bed.openTunnel(to: bed.echoAuthority)
        await bed.relay.shutdown()
        let record = try #require(try await logs.wait(for: "tunnel closed").first)
        #expect(record.metadata["outcome"] == "relay stopped")
        await client.close()
        await bed.shutdown()
    }

    /// relay-init's exit summary reads the totals right after `shutdown` returns: tunnels that
    /// were closing at that moment must be in them (a race the AddressSanitizer run exposed).
    @Test func totalsAreCompleteOnceShutdownReturns() async throws {
        let bed = try await Testbed.start()
        var clients: [RawTCPClient] = []
        for _ in 0..<20 {
            clients.append(try await bed.openTunnel(to: bed.echoAuthority))
        }
        for client in clients.prefix(10) {
            await client.close()
        }
        await bed.relay.shutdown()
        #expect(bed.relay.totals.tunnels == 20)
        for client in clients.dropFirst(10) {
            await client.close()
        }
        await bed.shutdown()
    }

    @Test func theTokenIsInNoLogLineAtTrace() async throws {
        let logs = LogCapture()
        let bed = try await Testbed.start(relayLogger: logs.logger(level: .trace))
        let client = try await bed.openTunnel(to: bed.echoAuthority)
        await client.close()
        _ = try await logs.wait(for: "tunnel closed")
        #expect(!logs.all.isEmpty)
        for record in logs.all {
            #expect(!record.description.contains(Testbed.token))
        }
        await bed.shutdown()
    }
}
