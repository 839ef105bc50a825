import Foundation
import Testing
import TestSupport

/// The security rules of the issue that need whole processes to show. Already covered
/// elsewhere, and not repeated here: the gateway's constant-time comparison and token table
/// (GatewayTests/TokenTableTests), its 429 on the upgrade and 431 for an oversized head in the
/// tunnel, in-process (GatewayTests), the CA parser's unit cases (OrchestratorTests/TrustStoreTests),
/// the token in wrap mode at trace (RelayInitEndToEndTests). See docs/RELIABILITY.md.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct SecurityTests {
    /// Every form in which a token could leak into a log.
    static func secretForms(session: String, token: String) -> [String] {
        [
            token,
            Data(token.utf8).base64EncodedString(),
            Data("\(session):\(token)".utf8).base64EncodedString(),
        ]
    }

    /// A whole session at `--log-level trace` on both sides: a tunnel with data, a tunnel the
    /// gateway refuses (target down), a client that leaves mid-handshake, a second relay with a
    /// wrong token (401 on the upgrade), shutdown. Neither log holds the token, its base64, the
    /// Basic credentials, or the wrong token; both logs do hold debug lines (the level took effect).
    @Test func tokensNeverReachTheLogsEvenAtTrace() async throws {
        let wrongToken = "wrong-\(UUID().uuidString)"
        let closed = try await refusedPort()
        var wrongTokenLog = ""
        let bed = try await StackBed.with(
            gatewayArguments: ["--log-level", "trace"], relayArguments: ["--keepalive", "0.05"], relayLogLevel: "trace"
        ) { bed in
            // Data both ways, and keepalives on an idle tunnel.
            let (client, head) = try await ConnectTunnel.open(relayPort: bed.port, target: bed.echoTarget)
            #expect(head == ConnectTunnel.established)
            client.discardReceived()
            try await client.send("secret-free payload")
            _ = try await client.read(until: "secret-free payload")
            try await bed.gateway.process.waitForLine(containing: "dialling")
            await client.close()

            let refused = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT 127.0.0.1:\(closed) HTTP/1.1\r\n\r\n")
            #expect(refused.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))

            let leaving = try await RawTCPClient.connect(port: bed.port)
            try await leaving.send("CONNECT \(bed.echoTarget) HTTP/1.1\r\n\r\n")
            await leaving.close()

            // Another relay-init for the same session, with a token the gateway does not know.
            let caPath = bed.directory.file("ca.pem")
            let wrong = try await RelayInitSidecar.start(
                .init(gateway: bed.gateway.url), sessionID: StackBed.session, token: wrongToken, systemCA: caPath, logLevel: "trace"
            )
            let response = try await ConnectTunnel.exchange(relayPort: wrong.port, "CONNECT \(bed.echoTarget) HTTP/1.1\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
            try await wrong.process.waitForLine(containing: "refused the WebSocket upgrade with 401")
            #expect(try await wrong.stop() == 0)
            wrongTokenLog = wrong.process.stderr
        }
        let relayLog = bed.relay.process.stderr
        let gatewayLog = bed.gateway.process.stderr
        if ProcessInfo.processInfo.environment["RELIABILITY_SHOW_LOGS"] != nil {
            print("--- relay-init ---\n\(relayLog)--- relay-init, wrong token ---\n\(wrongTokenLog)--- relay-gateway ---\n\(gatewayLog)")
        }
        #expect(relayLog.contains("tunnel open"), "relay-init did not log at debug level:\n\(relayLog)")
        #expect(gatewayLog.contains("dialling"), "relay-gateway did not log at debug level:\n\(gatewayLog)")
        let secrets = Self.secretForms(session: StackBed.session, token: StackBed.token)
            + Self.secretForms(session: StackBed.session, token: wrongToken)
        for (name, log) in [("relay-init", relayLog), ("relay-init (wrong token)", wrongTokenLog), ("relay-gateway", gatewayLog)] {
            for secret in secrets {
                #expect(!log.contains(secret), "\(name)'s log holds \(secret):\n\(log)")
            }
        }
    }

    // MARK: The CA body

    /// A body of whole PEM certificates (copies of one CA) of about `size` bytes, never more.
    static func certificateBundle(atMost size: Int) -> Data {
        let pem = TestCA().certificatePEM
        return Data(String(repeating: pem, count: size / pem.utf8.count).utf8)
    }

    /// The CA endpoint's body is capped at 1 MiB: a bundle of valid certificates just over it is
    /// refused (exit 69, the limit named, no env file), one just under it is taken.
    @Test func theCABodyIsCappedAt1MiB() async throws {
        let files = try await FileServer.start()
        defer { Task { await files.shutdown() } }
        let justUnder = Self.certificateBundle(atMost: 1 << 20)
        var justOver = justUnder
        justOver.append(Self.certificateBundle(atMost: 4096))
        #expect(justUnder.count <= 1 << 20 && justOver.count > 1 << 20)
        try files.write("under.pem", justUnder)
        try files.write("over.pem", justOver)
        try files.write("system.pem", Data(TestCA().certificatePEM.utf8))
        let systemCA = files.directory.file("system.pem")

        let refused = try await RelayInitSidecar.runExpectingSetupFailure(
            .init(gateway: files.server.url(""), caURL: files.url("over.pem")), sessionID: "s", token: "t", systemCA: systemCA
        )
        #expect(refused.result.status == SpecLists.ExitCode.setupFailed, "\(refused.result.stderr)")
        #expect(refused.result.stderr.contains("the body is larger than 1048576 bytes"), "\(refused.result.stderr)")
        #expect(!refused.wroteEnvFile, "a failed set-up wrote the env file")

        let accepted = try await RelayInitSidecar.start(
            .init(gateway: files.server.url(""), caURL: files.url("under.pem")), sessionID: "s", token: "t", systemCA: systemCA,
            logLevel: "debug"
        )
        let line = try await accepted.process.waitForLine(containing: "gateway CA:")
        let certificates = String(decoding: justUnder, as: UTF8.self).ranges(of: "-----BEGIN CERTIFICATE-----").count
        #expect(line.contains(" \(certificates) certificate(s)"), "\(line)")
        #expect(try await accepted.stop() == 0)
        await files.shutdown()
    }

    /// What a CA endpoint might send instead of certificates; each is refused with a message that
    /// says what was received, and never quotes the token.
    enum NotACertificate: String, CaseIterable, Sendable {
        case empty, htmlEchoingTheToken, privateKey, corruptCertificate, jsonError

        func body(token: String) -> String {
            switch self {
            case .empty: ""
            case .htmlEchoingTheToken: "<html><body>401: bad token \(token)</body></html>\n"
            case .privateKey: try! TestCA().issue(dnsNames: ["x.test"]).privateKeyPEM
            case .corruptCertificate:
                // The middle of the base64 replaced: still a CERTIFICATE block, no longer DER.
                TestCA().certificatePEM.split(separator: "\n").enumerated().map { index, line in
                    index == 3 ? String(repeating: "A", count: line.count) : String(line)
                }.joined(separator: "\n") + "\n"
            case .jsonError: #"{"error": "not found"}"#
            }
        }

        var expectedMessage: String {
            switch self {
            case .empty: "returned an empty body instead of PEM certificates"
            case .htmlEchoingTheToken: "did not return PEM certificates: received"
            case .privateKey: "returned a PEM PRIVATE KEY block; only CERTIFICATE blocks are accepted"
            case .corruptCertificate: "certificate 1 from the CA endpoint does not parse"
            case .jsonError: "did not return PEM certificates: received 22 bytes starting"
            }
        }
    }

    @Test(arguments: NotACertificate.allCases)
    func aCABodyThatIsNotCertificatesIsRefused(body: NotACertificate) async throws {
        let token = "token-\(UUID().uuidString)"
        let files = try await FileServer.start()
        defer { Task { await files.shutdown() } }
        try files.write("ca.pem", Data(body.body(token: token).utf8))
        try files.write("system.pem", Data(TestCA().certificatePEM.utf8))
        let refused = try await RelayInitSidecar.runExpectingSetupFailure(
            .init(gateway: files.server.url(""), caURL: files.url("ca.pem")), sessionID: "s", token: token,
            systemCA: files.directory.file("system.pem")
        )
        #expect(refused.result.status == SpecLists.ExitCode.setupFailed, "\(refused.result.stderr)")
        #expect(refused.result.stderr.contains(body.expectedMessage), "\(refused.result.stderr)")
        #expect(!refused.wroteEnvFile)
        for secret in Self.secretForms(session: "s", token: token) {
            #expect(!refused.result.stderr.contains(secret), "the log holds \(secret):\n\(refused.result.stderr)")
        }
        await files.shutdown()
    }

    // MARK: The gateway's caps, through the relay

    /// `--max-tunnels-per-session 3`: a fourth concurrent tunnel is refused on the upgrade (429),
    /// which the relay turns into 502 and a log line naming 429; once one tunnel closes, the slot
    /// is free again.
    @Test func theGatewaysTunnelCapReachesTheClientAs502AndFreesOnClose() async throws {
        try await StackBed.with(gatewayArguments: ["--max-tunnels-per-session", "3"]) { bed in
            var open: [RawTCPClient] = []
            for index in 0..<3 {
                open.append(try await LoadTests.openEchoTunnel(relayPort: bed.port, target: bed.echoTarget, index: index))
            }
            let refused = try await ConnectTunnel.exchange(relayPort: bed.port, "CONNECT \(bed.echoTarget) HTTP/1.1\r\n\r\n")
            #expect(refused.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(refused.debugDescription)")
            try await bed.relay.process.waitForLine(containing: "refused the WebSocket upgrade with 429 Too Many Requests")

            await open.removeFirst().close()
            // The gateway frees the slot when that tunnel's WebSocket closes: two tunnels' worth
            // of descriptors (WebSocket + target each) is the sign.
            try await bed.waitForGatewayFDs(bed.baseline.gatewayFDs + 2 * 2, "closing one of three tunnels")
            open.append(try await LoadTests.openEchoTunnel(relayPort: bed.port, target: bed.echoTarget, index: 3))
            for client in open { await client.close() }
        }
    }

    /// A CONNECT head under the relay's 8,192-byte limit becomes, with the relay's
    /// Proxy-Authorization added, a head over the gateway's limit: the gateway answers 431 inside
    /// the tunnel and the client gets it verbatim. (A client head over 8,192 bytes gets the
    /// relay's own 431: RelayTests.)
    @Test func aHeadOverTheGatewaysLimitGets431InsideTheTunnel() async throws {
        try await StackBed.with { bed in
            let host = String(repeating: "a", count: 8_100) + ".test"
            let request = "CONNECT \(host):443 HTTP/1.1\r\n\r\n"
            #expect(request.utf8.count < 8_192)
            let response = try await ConnectTunnel.exchange(relayPort: bed.port, request)
            #expect(response.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "\(response.debugDescription)")
        }
    }
}
