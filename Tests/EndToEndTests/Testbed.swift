import Foundation
import Gateway
import Logging
import NIOCore
import RelayProtocol
import Relay
import TestSupport

/// The whole chain on loopback: an HTTPS "internet" target with a certificate from a test CA,
/// an echo server, the reference gateway that maps `target.test` and `echo.test` to them,
/// and a relay in front of it. Every part is the real one.
final class Testbed: Sendable {
    static let session = "session-1"
    static let token = "token-\(UUID().uuidString)"

    let directory: TemporaryDirectory
    let caPath: String
    let target: HTTPSTarget
    let echo: EchoServer
    let gateway: RunningGateway
    let relay: RunningRelay

    var proxy: String { "http://127.0.0.1:\(self.relay.port)" }
    func targetURL(_ path: String) -> String { "https://target.test:\(self.target.port)\(path)" }
    var echoAuthority: String { "echo.test:\(self.echo.port)" }

    private init(directory: TemporaryDirectory, caPath: String, target: HTTPSTarget, echo: EchoServer, gateway: RunningGateway, relay: RunningRelay) {
        self.directory = directory
        self.caPath = caPath
        self.target = target
        self.echo = echo
        self.gateway = gateway
        self.relay = relay
    }

    /// - Parameters:
    ///   - deny: gateway policy patterns to refuse.
    ///   - relayToken: the token the relay presents (the gateway accepts `Testbed.token`).
    ///   - secureGateway: serve the gateway over TLS (`wss://`) with a certificate from the test CA.
    ///   - relayTrustsCA: give the relay the test CA as its trust bundle.
    static func start(
        deny: [String] = [],
        relayToken: String = Testbed.token,
        secureGateway: Bool = false,
        relayTrustsCA: Bool = true,
        handshakeTimeout: TimeAmount = .seconds(30),
        relayLogger: Logger? = nil
    ) async throws -> Testbed {
        let directory = try TemporaryDirectory()
        let ca = TestCA()
        let caPath = directory.file("ca.pem")
        try ca.writeCertificate(to: caPath)
        let leaf = try ca.issue(dnsNames: ["target.test", "localhost"], ipAddresses: ["127.0.0.1"])
        let target = try await HTTPSTarget.start(tls: leaf)
        let echo = try await EchoServer.start()

        let transport: GatewayConfiguration.Transport
        if secureGateway {
            let files = try leaf.writeFiles(to: directory.path, name: "gateway")
            transport = .tls(certificateChainPath: files.certPath, privateKeyPath: files.keyPath)
        } else {
            transport = .insecureHTTP
        }
        var logger = Logger(label: "test-gateway")
        logger.logLevel = .warning
        let gateway = try await Gateway.start(
            GatewayConfiguration(
                listen: .loopbackAnyPort,
                tokens: [Self.session: Self.token],
                transport: transport,
                caCertificatePath: caPath,
                accessPolicy: AccessPolicy(deny: try deny.map { try HostPattern($0) }),
                mapHost: ["target.test": "127.0.0.1", "echo.test": "127.0.0.1"],
                logger: logger
            )
        )
        let scheme = secureGateway ? "wss" : "ws"
        var defaultRelayLogger = Logger(label: "test-relay")
        defaultRelayLogger.logLevel = .warning
        let relay = try await Relay.start(
            RelayConfiguration(
                webSocketURL: WebSocketURL("\(scheme)://localhost:\(gateway.port)/v1/code/upstreamproxy/ws")!,
                sessionID: Self.session,
                token: relayToken,
                trustRootsFile: relayTrustsCA ? caPath : nil,
                handshakeTimeout: handshakeTimeout,
                logger: relayLogger ?? defaultRelayLogger
            )
        )
        return Testbed(directory: directory, caPath: caPath, target: target, echo: echo, gateway: gateway, relay: relay)
    }

    func shutdown() async {
        await self.relay.shutdown()
        await self.gateway.shutdown()
        await self.echo.shutdown()
        await self.target.shutdown()
        self.directory.remove()
    }

    /// Runs the real curl through the relay; proxy and CA only from the arguments.
    func curl(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> ProcessResult {
        try await TestProcess.run(
            "curl", ["--silent", "--show-error", "--proxy", self.proxy] + arguments,
            environment: TestProcess.minimalEnvironment(), timeout: timeout
        )
    }

    /// Opens a CONNECT tunnel by hand and returns the client once the 200 arrived.
    func openTunnel(to authority: String) async throws -> RawTCPClient {
        try await ConnectTunnel.openEstablished(relayPort: self.relay.port, target: authority)
    }
}

/// `sha256sum FILE`'s hex digest.
func sha256(file: String) async throws -> String {
    let result = try await TestProcess.run("sha256sum", [file])
    return String(result.stdout.prefix(64))
}
