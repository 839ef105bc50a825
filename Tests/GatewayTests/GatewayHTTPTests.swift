import Foundation
import Gateway
import NIOHTTP1
import Testing
import TestSupport

/// The gateway's plain HTTP side: the CA endpoint and the refusals of the WebSocket endpoint.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct GatewayHTTPTests {
    @Test func servesTheCACertificate() async throws {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
        let directory = try TemporaryDirectory(prefix: "gateway-ca")
        defer { directory.remove() }
        let path = directory.file("ca.pem")
        try Data(pem.utf8).write(to: URL(fileURLWithPath: path))

        try await withGateway(.forTests(caCertificatePath: path)) { gateway in
            let response = try await GatewayClient.get(port: gateway.port, path: GatewayPath.caCertificate)
            #expect(response.status == .ok)
            #expect(response.headers["Content-Type"] == ["application/x-pem-file"])
            #expect(response.body == pem)
        }
    }

    @Test func answers404ForTheCAWhenNoneIsConfigured() async throws {
        try await withGateway { gateway in
            let response = try await GatewayClient.get(port: gateway.port, path: GatewayPath.caCertificate)
            #expect(response.status == .notFound)
        }
    }

    @Test func refusesToStartWithAMissingCAFile() async throws {
        await #expect(throws: GatewayError.self) {
            _ = try await Gateway.start(.forTests(caCertificatePath: "/nonexistent/ca.pem"))
        }
    }

    @Test func answers404ForOtherPaths() async throws {
        try await withGateway { gateway in
            #expect(try await GatewayClient.get(port: gateway.port, path: "/").status == .notFound)
            #expect(try await GatewayClient.get(port: gateway.port, path: "/v1/code/upstreamproxy/other").status == .notFound)
            // A perfectly good upgrade, on the wrong path.
            let response = try await GatewayClient.refusedUpgrade(
                port: gateway.port, headers: GatewayClient.tunnelHeaders(token: TestSessions.first.token), path: "/ws"
            )
            #expect(response.status == .notFound)
        }
    }

    @Test func refusesTheUpgradeWithoutAToken() async throws {
        try await withGateway { gateway in
            let response = try await GatewayClient.refusedUpgrade(port: gateway.port, headers: GatewayClient.tunnelHeaders(token: nil))
            #expect(response.status == .unauthorized)
            #expect(response.headers["WWW-Authenticate"] == ["Bearer"])
        }
    }

    @Test func refusesTheUpgradeWithAWrongToken() async throws {
        try await withGateway { gateway in
            let response = try await GatewayClient.refusedUpgrade(port: gateway.port, headers: GatewayClient.tunnelHeaders(token: "not-a-token"))
            #expect(response.status == .unauthorized)
            #expect(!response.body.contains("not-a-token"))
        }
    }

    @Test func refusesTheUpgradeWithAnotherContentType() async throws {
        try await withGateway { gateway in
            let headers = GatewayClient.tunnelHeaders(token: TestSessions.first.token, contentType: "application/json")
            let response = try await GatewayClient.refusedUpgrade(port: gateway.port, headers: headers)
            #expect(response.status == .unsupportedMediaType)
        }
    }

    @Test func explainsARequestThatIsNoUpgrade() async throws {
        try await withGateway { gateway in
            // Authorised and the right content type, but a plain GET: 426.
            let plain = try await GatewayClient.get(
                port: gateway.port, path: GatewayPath.webSocket, headers: GatewayClient.tunnelHeaders(token: TestSessions.first.token)
            )
            #expect(plain.status == .upgradeRequired)
            // Without credentials the token is still what is asked for first.
            let anonymous = try await GatewayClient.get(port: gateway.port, path: GatewayPath.webSocket)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func limitsTheTunnelsOfOneSession() async throws {
        try await withGateway(.forTests(maxTunnelsPerSession: 1)) { gateway in
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { _ in
                let second = try await GatewayClient.refusedUpgrade(
                    port: gateway.port, headers: GatewayClient.tunnelHeaders(token: TestSessions.first.token)
                )
                #expect(second.status == .tooManyRequests)
                // Other sessions have their own allowance.
                try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.second.token) { _ in }
            }
            // The slot comes back once the gateway has seen the tunnel close; no event tells the
            // client when that is, so poll (bounded).
            let deadline = ContinuousClock.now + .seconds(10)
            while gateway.openTunnels(session: TestSessions.first.session) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token) { _ in }
        }
    }
}
