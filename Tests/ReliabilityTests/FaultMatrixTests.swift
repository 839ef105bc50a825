import Foundation
import Testing
import TestSupport

/// The fault matrix on the relay → gateway leg, with relay-init as its own process and a
/// scripted gateway (``FakeGateway``) that makes the faults the reference gateway never makes.
///
/// Every test runs inside ``FaultBed/with(extra:webSocketURL:_:)``, which afterwards proves that
/// the relay still serves a fresh tunnel, that it closed every connection to the gateway, and
/// that its open descriptors are back to the baseline.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct FaultMatrixTests {
    /// The gateway accepts TCP and never answers the upgrade: 504 after `--handshake-timeout`,
    /// and the relay closes its half-open connection. (5 s: the fresh tunnel afterwards has the
    /// same bound, and a loaded 2-core machine can take seconds for a debug handshake.)
    @Test func unansweredUpgradeGives504AndLeavesNoSocket() async throws {
        try await FaultBed.with(extra: ["--handshake-timeout", "5"]) { bed in
            bed.fake.answerUpgrades(with: .silent)
            let clock = ContinuousClock()
            let start = clock.now
            let response = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT echo.test:443 HTTP/1.1\r\n\r\n")
            let elapsed = clock.now - start
            #expect(response.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"), "\(response.debugDescription)")
            #expect(elapsed >= .milliseconds(4_950), "504 after \(elapsed), before the handshake timeout")
            // The fault was the unanswered upgrade, not a slow connect: the request did arrive
            // (the fake may parse it only after the relay gave up, on a loaded machine).
            try await waitUntil("the upgrade request to reach the gateway", timeout: .seconds(30)) {
                bed.fake.state.current.upgradeRequests == 1
            }
            try await bed.fake.waitUntilNoConnectionIsOpen()
            try await bed.waitForLog("did not complete the WebSocket handshake within 5.0 s")
        }
    }

    /// The upgrade is answered with an HTTP error or with bytes that are not HTTP: 502 at once
    /// (not a 504 after the handshake timeout), a log line naming the cause, and the relay closes
    /// the connection even when the gateway keeps it open (garbage).
    @Test(arguments: [FakeGateway.Upgrade.refuse(status: 401), .refuse(status: 403), .refuse(status: 500), .garbage])
    func refusedOrGarbledUpgradeGives502(upgrade: FakeGateway.Upgrade) async throws {
        try await FaultBed.with(extra: ["--handshake-timeout", "20"]) { bed in
            bed.fake.answerUpgrades(with: upgrade)
            let clock = ContinuousClock()
            let start = clock.now
            let response = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT echo.test:443 HTTP/1.1\r\n\r\n")
            let elapsed = clock.now - start
            #expect(response.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(response.debugDescription)")
            #expect(elapsed < TestTime.scaled(.seconds(10)), "502 only after \(elapsed): the relay waited for the handshake timeout")
            try await bed.fake.waitUntilNoConnectionIsOpen()
            let line = try await bed.waitForLog("tunnel to echo.test:443 failed")
            if case .refuse(let status) = upgrade {
                #expect(line.contains("refused the WebSocket upgrade with \(status)"), "\(line)")
            } else {
                #expect(line.contains("the gateway's answer to the WebSocket upgrade is not HTTP"), "\(line)")
            }
        }
    }

    /// `wss://` to a gateway whose certificate no CA in the bundle signed: 502, a log line with
    /// the TLS error. No tunnel can succeed here by construction, so "still serves" is shown by a
    /// second client getting the same prompt answer, and the descriptors return to the baseline.
    @Test func untrustedGatewayCertificateGives502AndLogsTheTLSError() async throws {
        let stranger = TestCA(commonName: "a CA nobody trusts")
        let leaf = try stranger.issue(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        let tlsServer = try await HTTPSTarget.start(tls: leaf)
        defer { Task { await tlsServer.shutdown() } }
        try await FaultBed.with(webSocketURL: "wss://127.0.0.1:\(tlsServer.port)/v1/code/upstreamproxy/ws") { bed in
            for attempt in 1...2 {
                let response = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT example-\(attempt).test:443 HTTP/1.1\r\n\r\n")
                #expect(response.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "attempt \(attempt): \(response.debugDescription)")
                let line = try await bed.waitForLog("tunnel to example-\(attempt).test:443 failed")
                #expect(line.contains("CERTIFICATE_VERIFY_FAILED"), "the log does not name the TLS error: \(line)")
            }
        }
        await tlsServer.shutdown()
    }

    /// The gateway's connection drops (no close frame) after 1 MiB of a download: the client gets
    /// the head and exactly those bytes, then EOF; it is not left hanging.
    @Test func gatewayDroppingMidDownloadGivesTheClientEveryByteThenEOF() async throws {
        try await FaultBed.with { bed in
            let (client, head) = try await ConnectTunnel.open(relayPort: bed.port, target: "\(FakeGateway.Script.dropMidDownload.rawValue):443")
            #expect(head == ConnectTunnel.established)
            let received = try await client.readToEnd(timeout: .seconds(20))
            await client.close()
            let body = received.dropFirst(ConnectTunnel.established.utf8.count)
            #expect(body.count == FakeGateway.midDownloadBytes, "\(body.count) bytes before EOF")
            let expected = (0..<FakeGateway.midDownloadBytes / (64 << 10)).flatMap { [UInt8](repeating: UInt8($0), count: 64 << 10) }
            #expect(Array(body) == expected, "the bytes before the drop differ")
        }
    }

    /// The gateway's connection drops (no close frame) after 1 MiB of an upload of 64 MiB: the
    /// client's connection ends (EOF or reset) instead of hanging with its upload held back.
    @Test func gatewayDroppingMidUploadEndsTheClientsConnection() async throws {
        try await FaultBed.with { bed in
            let total = 64 << 20
            let client = try await StreamClient.connect(
                relayPort: bed.port, target: "\(FakeGateway.Script.dropMidUpload.rawValue):443", mode: .send(total: total)
            )
            try await client.progress.wait("the client's connection to end", timeout: .seconds(20)) { $0.closed }
            let progress = client.progress.current
            #expect(progress.responseHead == ConnectTunnel.established)
            #expect(progress.bytes < total, "the whole upload went out although the gateway dropped after 1 MiB")
            await client.close()
        }
    }

    /// Messages the relay must not accept: not a chunk, a text frame (both before any data: 502),
    /// a frame larger than the relay's maximum message size (after the 200: the client gets EOF
    /// and none of the frame). Each closes its tunnel with a close frame and a log line.
    @Test(arguments: [FakeGateway.Script.invalidChunk, .textFrame, .oversizedFrame])
    func invalidMessageClosesTheTunnel(script: FakeGateway.Script) async throws {
        try await FaultBed.with { bed in
            let response = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT \(script.rawValue):443 HTTP/1.1\r\n\r\n")
            switch script {
            case .oversizedFrame:
                #expect(response == ConnectTunnel.established, "\(response.prefix(200).debugDescription) (\(response.utf8.count) bytes)")
            default:
                #expect(response.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(response.debugDescription)")
            }
            // The relay says goodbye on the WebSocket before closing it, with a status saying why:
            // 1003 (unacceptable data) for what is not a chunk, 1002 (protocol error) for a frame
            // its decoder refuses.
            try await bed.fake.state.wait("the relay's close frame") { $0.closeFramesFromRelay >= 1 }
            let expectedCode: UInt16 = script == .oversizedFrame ? 1002 : 1003
            #expect(bed.fake.state.current.closeCodesFromRelay == [expectedCode])
            switch script {
            case .invalidChunk: try await bed.waitForLog("closing tunnel: invalid chunk from peer")
            case .textFrame: try await bed.waitForLog("closing tunnel: text frame from peer")
            default: try await bed.waitForLog("closing tunnel: WebSocket protocol error")
            }
        }
    }

    /// A close frame with a code and a reason after some data: the client gets the data, then EOF;
    /// the relay answers the close frame (RFC 6455 §5.5.1).
    @Test func closeFrameWithAReasonEndsTheTunnelAfterItsData() async throws {
        try await FaultBed.with { bed in
            let response = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT \(FakeGateway.Script.closeWithReason.rawValue):443 HTTP/1.1\r\n\r\n")
            #expect(response == ConnectTunnel.established + FakeGateway.closeWithReasonData)
            try await bed.fake.state.wait("the relay to answer the close frame") { $0.closeFramesFromRelay == 1 }
            #expect(bed.fake.state.current.closeCodesFromRelay == [1000])
        }
    }

    /// The client leaves while the upgrade is pending: the relay abandons the WebSocket and closes
    /// its connection at once, long before the (30 s) handshake timeout.
    @Test func clientLeavingDuringTheHandshakeAbandonsTheWebSocket() async throws {
        try await FaultBed.with(extra: ["--handshake-timeout", "30"]) { bed in
            bed.fake.answerUpgrades(with: .silent)
            let client = try await RawTCPClient.connect(port: bed.port)
            try await client.send("CONNECT echo.test:443 HTTP/1.1\r\n\r\n")
            try await bed.fake.state.wait("the upgrade request") { $0.upgradeRequests == 1 }
            await client.close()
            try await bed.fake.waitUntilNoConnectionIsOpen(timeout: .seconds(10))
        }
    }
}

/// Faults on the gateway → target leg, with the reference gateway: its answers reach the client
/// verbatim through the tunnel, and neither process keeps anything of the failed tunnel.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct TargetFaultTests {
    /// Nothing listens on the target port: the gateway's 502, verbatim.
    @Test func targetRefusingGivesTheGateways502() async throws {
        let port = try await refusedPort()
        try await StackBed.with { bed in
            let response = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT 127.0.0.1:\(port) HTTP/1.1\r\n\r\n")
            #expect(response == "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        }
    }

    /// The target never answers the SYN: the gateway's 504 after its `--dial-timeout`, verbatim.
    @Test func targetTimingOutGivesTheGateways504() async throws {
        let stalled = try await StalledListener.start()
        do {
            try await StackBed.with(gatewayArguments: ["--dial-timeout", "0.3"]) { bed in
                let clock = ContinuousClock()
                let start = clock.now
                let response = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT 127.0.0.1:\(stalled.port) HTTP/1.1\r\n\r\n")
                #expect(response == "HTTP/1.1 504 Gateway Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                #expect(clock.now - start >= .milliseconds(250), "504 before the dial timeout")
            }
        } catch {
            await stalled.shutdown()
            throw error
        }
        await stalled.shutdown()
    }
}
