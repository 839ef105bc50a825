import Foundation
import TestSupport

/// One complete, real deployment on loopback, per test:
///
/// - an HTTPS target (the in-process `HTTPSTarget`) with a certificate for `target.test`
///   (and 127.0.0.1, for endpoints relay-init itself fetches) from a fresh `TestCA`;
///   clients can only trust it through what relay-init hands them;
/// - a `relay-gateway` *process* (TestSupport's `GatewayProcess`) that serves that CA at `…/ca-cert`, accepts
///   `Stack.session:token` and maps `target.test` (and `loopback.test`) to 127.0.0.1;
/// - paths for relay-init's env file and CA bundle inside a temporary directory.
///
/// Use ``with(_:_:)``: it stops the gateway and the target and removes the directory
/// whether the body returns or throws.
final class Stack: Sendable {
    static let session = "session-e2e"

    struct Configuration: Sendable {
        /// Serve the gateway over TLS (`https://`/`wss://`) with a certificate from the test CA
        /// for `localhost`, `gateway.test` and 127.0.0.1.
        var tlsGateway = false
        /// `--deny` patterns for the gateway.
        var deny: [String] = []
        /// Directory served by the target under `/static/`.
        var staticRoot: String? = nil
        /// Where (under the stack's directory) relay-init writes its env file and CA bundle;
        /// relay-init creates it.
        var runDirectory = "run"
    }

    let configuration: Configuration
    let directory: TemporaryDirectory
    let ca: TestCA
    /// The test CA's certificate (PEM file), served by the gateway.
    let caPath: String
    /// A random token per stack, so a leak of it can be searched for.
    let token: String
    let target: HTTPSTarget
    let gateway: GatewayProcess
    var gatewayPort: Int { self.gateway.port }
    /// For `--system-ca`: the real system bundle, plus the test CA when the gateway speaks TLS
    /// (relay-init must verify `https://…/ca-cert` against it before it has the gateway CA).
    let systemCA: String

    static let realSystemBundle = "/etc/ssl/certs/ca-certificates.crt"

    private init(
        configuration: Configuration, directory: TemporaryDirectory, ca: TestCA, caPath: String, token: String,
        target: HTTPSTarget, gateway: GatewayProcess, systemCA: String
    ) {
        self.configuration = configuration
        self.directory = directory
        self.ca = ca
        self.caPath = caPath
        self.token = token
        self.target = target
        self.gateway = gateway
        self.systemCA = systemCA
    }

    // MARK: - Lifecycle

    /// Starts a stack, runs `body`, and always tears the stack down.
    static func with<T>(_ configuration: Configuration = Configuration(), _ body: (Stack) async throws -> T) async throws -> T {
        try await withTeardown(of: try await Stack.start(configuration), body) { await $0.shutdown() }
    }

    static func start(_ configuration: Configuration) async throws -> Stack {
        let directory = try TemporaryDirectory(prefix: "relay-init-e2e")
        let ca = TestCA()
        let caPath = directory.file("ca.pem")
        var target: HTTPSTarget?
        do {
            try ca.writeCertificate(to: caPath)
            let targetLeaf = try ca.issue(dnsNames: ["target.test"], ipAddresses: ["127.0.0.1"])
            target = try await HTTPSTarget.start(tls: targetLeaf, staticRoot: configuration.staticRoot)

            let token = "tok-\(UUID().uuidString)"
            var arguments = [
                "--token", "\(Self.session):\(token)",
                "--ca-cert", caPath,
                "--map-host", "target.test=127.0.0.1",
                // Any port on loopback, for servers a test's client starts itself.
                "--map-host", "loopback.test=127.0.0.1",
            ]
            var systemCA = Self.realSystemBundle
            var transport = GatewayProcess.Transport.insecureHTTP
            if configuration.tlsGateway {
                let files = try ca.issue(dnsNames: ["localhost", "gateway.test"], ipAddresses: ["127.0.0.1"])
                    .writeFiles(to: directory.path, name: "gateway")
                transport = .tls(certificatePath: files.certPath, keyPath: files.keyPath)
                // The real system bundle, then the test CA: what an image whose OS trusts the
                // operator's private CA would have.
                systemCA = directory.file("system-bundle.pem")
                let real = try String(contentsOfFile: Self.realSystemBundle, encoding: .utf8)
                try (real + "\n" + ca.certificatePEM).write(toFile: systemCA, atomically: true, encoding: .utf8)
            }
            for pattern in configuration.deny {
                arguments += ["--deny", pattern]
            }

            let gateway = try await GatewayProcess.start(arguments, transport: transport)
            return Stack(
                configuration: configuration, directory: directory, ca: ca, caPath: caPath, token: token,
                target: target!, gateway: gateway, systemCA: systemCA
            )
        } catch {
            await target?.shutdown()
            directory.remove()
            throw error
        }
    }

    /// Stops the gateway (SIGTERM, then SIGKILL if it lingers) and the target, removes the files.
    func shutdown() async {
        await self.gateway.stop()
        await self.target.shutdown()
        self.directory.remove()
    }

    /// Kills the gateway outright (no graceful close) and waits until it is gone and its
    /// port refuses connections.
    func killGateway() async throws {
        try await self.gateway.kill()
    }

    // MARK: - Addresses

    /// Host name the gateway URL uses: `localhost` for TLS (a name in its certificate).
    var gatewayURL: String { self.gateway.url }

    func targetURL(_ path: String) -> String {
        "https://target.test:\(self.target.port)\(path)"
    }

    var envFile: String { self.directory.file(self.configuration.runDirectory + "/proxy.env") }
    var caBundle: String { self.directory.file(self.configuration.runDirectory + "/ca-bundle.crt") }

    // MARK: - relay-init

    static var relayInitPath: String { Binaries.path("relay-init") }

    /// relay-init's options for this stack, before `--`.
    func relayInitOptions(gateway: String? = nil, sessionID: String = Stack.session, systemCA: String? = nil) -> [String] {
        RelayInitOptions(
            gateway: gateway ?? self.gatewayURL, sessionID: sessionID,
            envFile: self.envFile, caBundle: self.caBundle, systemCA: systemCA ?? self.systemCA
        ).arguments
    }

    /// A minimal environment (no proxy or CA variables of the machine running the tests),
    /// with the token in `RELAY_INIT_TOKEN` unless `withToken` is false.
    func environment(_ extra: [String: String] = [:], withToken: Bool = true) -> [String: String] {
        var variables = extra
        if withToken {
            variables["RELAY_INIT_TOKEN"] = variables["RELAY_INIT_TOKEN"] ?? self.token
        }
        return TestProcess.minimalEnvironment(variables)
    }

    /// `relay-init OPTIONS EXTRA -- COMMAND…` to completion.
    func runRelayInit(
        _ extra: [String] = [],
        command: [String],
        environment: [String: String]? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> ProcessResult {
        try await TestProcess.run(
            Self.relayInitPath,
            self.relayInitOptions() + extra + ["--"] + command,
            environment: environment ?? self.environment(),
            timeout: timeout
        )
    }

    /// `relay-init OPTIONS EXTRA [-- COMMAND…]`, running; without a command it is a sidecar.
    func startRelayInit(_ extra: [String] = [], command: [String]? = nil, environment: [String: String]? = nil) throws -> RunningProcess {
        try TestProcess.start(
            Self.relayInitPath,
            self.relayInitOptions() + extra + (command.map { ["--"] + $0 } ?? []),
            environment: environment ?? self.environment()
        )
    }

    /// Everything a failure message needs: the process's output and the gateway's log.
    func report(_ result: ProcessResult) -> String {
        result.report(("gateway stderr", self.gateway.process.stderr))
    }

    func report(_ process: RunningProcess) -> String {
        process.report(("gateway stderr", self.gateway.process.stderr))
    }
}
