import Foundation
import Testing
import TestSupport

/// Tunnels opened by hand, byte by byte, to an echo server behind the gateway.
@Suite struct RawTunnelTests {
    @Test func connectHeadInOneByteWrites() async throws {
        let bed = try await Testbed.start()
        let client = try await RawTCPClient.connect(port: bed.relay.port)
        for byte in "CONNECT \(bed.echoAuthority) HTTP/1.1\r\nHost: \(bed.echoAuthority)\r\n\r\n".utf8 {
            try await client.send([byte])
        }
        #expect(try await client.read(until: "\r\n\r\n") == "HTTP/1.1 200 Connection Established\r\n\r\n")
        client.discardReceived()
        try await client.send("ping")
        #expect(try await client.read(until: "ping") == "ping")
        await client.close()
        await bed.shutdown()
    }

    @Test func headAndPayloadInOneWriteKeepTheirOrder() async throws {
        let bed = try await Testbed.start()
        let client = try await RawTCPClient.connect(port: bed.relay.port)
        let early = (0..<5000).map { "line \($0)\n" }.joined()
        try await client.send("CONNECT \(bed.echoAuthority) HTTP/1.1\r\n\r\n" + early)
        try await client.send("and later bytes")
        let expected = "HTTP/1.1 200 Connection Established\r\n\r\n" + early + "and later bytes"
        let received = try await client.read(atLeast: expected.utf8.count)
        #expect(String(decoding: received, as: UTF8.self) == expected)
        await client.close()
        await bed.shutdown()
    }

    @Test func clientEOFClosesTheTunnelAfterItsBytesAreDelivered() async throws {
        let bed = try await Testbed.start()
        // The echo server's reply proves the last bytes crossed before the close.
        let client = try await bed.openTunnel(to: bed.echoAuthority)
        try await client.send("last words")
        #expect(try await client.read(until: "last words") == "last words")
        await client.close()
        await bed.shutdown()
    }

    @Test func twoHundredConcurrentTunnels() async throws {
        let bed = try await Testbed.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let client = try await bed.openTunnel(to: bed.echoAuthority)
                    let message = "tunnel \(index) " + String(repeating: "x", count: 10_000)
                    try await client.send(message)
                    let echoed = try await client.read(atLeast: message.utf8.count)
                    #expect(String(decoding: echoed, as: UTF8.self) == message)
                    await client.close()
                }
            }
            try await group.waitForAll()
        }
        await bed.shutdown()
    }

    @Test func targetRefusingIs502InsideTheTunnel() async throws {
        let bed = try await Testbed.start()
        let client = try await RawTCPClient.connect(port: bed.relay.port)
        // Port 1 on loopback: nothing listens there.
        try await client.send("CONNECT echo.test:1 HTTP/1.1\r\n\r\n")
        #expect(try await client.readToEndAsString().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        await bed.shutdown()
    }
}
