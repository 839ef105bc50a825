import Foundation
import Gateway
import NIOSSL
import Testing
import TestSupport

/// The gateway as deployed: HTTPS and `wss://`, with a certificate from a test CA.
@Suite(.timeLimit(.minutes(TestTime.minutes(1)))) struct GatewayTLSTests {
    @Test func servesTheCAAndTunnelsOverTLS() async throws {
        let ca = TestCA()
        let directory = try TemporaryDirectory(prefix: "gateway-tls")
        defer { directory.remove() }
        let files = try ca.issue(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]).writeFiles(to: directory.path)
        let caPath = directory.file("ca.pem")
        try ca.writeCertificate(to: caPath)

        var configuration = GatewayConfiguration.forTests(caCertificatePath: caPath)
        configuration.transport = .tls(certificateChainPath: files.certPath, privateKeyPath: files.keyPath)

        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(ca.certificatePEM.utf8), format: .pem)])
        let clientContext = try NIOSSLContext(configuration: clientTLS)

        let echo = try await EchoServer.start()
        defer { Task { await echo.shutdown() } }
        try await withGateway(configuration) { gateway in
            let response = try await GatewayClient.get(port: gateway.port, path: GatewayPath.caCertificate, tls: clientContext)
            #expect(response.status == .ok)
            #expect(response.body == ca.certificatePEM)

            try await GatewayClient.withTunnel(port: gateway.port, token: TestSessions.first.token, tls: clientContext) { tunnel in
                try await tunnel.sendConnect(target: "127.0.0.1:\(echo.port)", credentials: TestSessions.firstCredentials, earlyData: "over tls")
                #expect(try await tunnel.readResponseHead() == "HTTP/1.1 200 Connection Established\r\n\r\n")
                #expect(try await tunnel.read(count: 8) == Array("over tls".utf8))
            }
        }
    }

    @Test func refusesToStartWithUnreadableTLSFiles() async throws {
        var configuration = GatewayConfiguration.forTests()
        configuration.transport = .tls(certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")
        await #expect(throws: GatewayError.self) { _ = try await Gateway.start(configuration) }
    }
}
