import Foundation

/// `relay-init` as a separate process in sidecar mode (no command: it relays until SIGTERM),
/// so that /proc figures are the relay's own and not the test runner's. Fails closed, with its
/// env file and CA bundle in a directory of its own.
public final class RelayInitSidecar: Sendable {
    public let process: RunningProcess
    /// The relay's CONNECT port (`RELAY_INIT_PROXY_PORT` from the env file).
    public let port: Int
    public let directory: TemporaryDirectory
    public var proc: ProcFS { ProcFS(pid: self.process.pid) }
    public var envFile: String { self.directory.file("proxy.env") }

    private init(process: RunningProcess, port: Int, directory: TemporaryDirectory) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    /// Where set-up gets its CA and which endpoint tunnels use.
    public struct Endpoints: Sendable {
        /// `--gateway`.
        public var gateway: String
        /// `--ws-url`, when the tunnels go elsewhere than the gateway's default endpoint.
        public var webSocketURL: String?
        /// `--ca-url`, when the CA comes from elsewhere than the gateway.
        public var caURL: String?

        public init(gateway: String, webSocketURL: String? = nil, caURL: String? = nil) {
            self.gateway = gateway
            self.webSocketURL = webSocketURL
            self.caURL = caURL
        }
    }

    /// Starts the sidecar and returns once it has written its env file.
    ///
    /// - Parameters:
    ///   - systemCA: `--system-ca`; a file that exists, so that no "no system bundle" warning
    ///     clutters the logs the tests read.
    ///   - extra: more options (`--handshake-timeout`, `--keepalive`, …).
    public static func start(
        _ endpoints: Endpoints,
        sessionID: String,
        token: String,
        systemCA: String,
        logLevel: String = "warning",
        extra: [String] = [],
        products: Products = .debug
    ) async throws -> RelayInitSidecar {
        let directory = try TemporaryDirectory(prefix: "relay-reliability")
        let options = Self.options(endpoints, sessionID: sessionID, directory: directory, systemCA: systemCA, logLevel: logLevel, extra: extra)
        let process = try TestProcess.start(
            products.relayInit, options.arguments,
            environment: TestProcess.minimalEnvironment(["RELAY_INIT_TOKEN": token])
        )
        do {
            let port = try await Self.waitForPort(envFile: options.envFile, process: process)
            return RelayInitSidecar(process: process, port: port, directory: directory)
        } catch {
            process.terminate(signal: SIGKILL)
            directory.remove()
            throw error
        }
    }

    /// The options every sidecar here gets: files in `directory`, fail closed.
    static func options(
        _ endpoints: Endpoints, sessionID: String, directory: TemporaryDirectory, systemCA: String, logLevel: String, extra: [String] = []
    ) -> RelayInitOptions {
        RelayInitOptions(
            gateway: endpoints.gateway, sessionID: sessionID,
            envFile: directory.file("proxy.env"), caBundle: directory.file("ca-bundle.crt"), systemCA: systemCA,
            webSocketURL: endpoints.webSocketURL, caURL: endpoints.caURL, failClosed: true, logLevel: logLevel, extra: extra
        )
    }

    /// Runs a sidecar whose set-up is expected to fail, to completion: its exit status and log,
    /// and whether it wrote an env file (it must not).
    public static func runExpectingSetupFailure(
        _ endpoints: Endpoints, sessionID: String, token: String, systemCA: String, products: Products = .debug
    ) async throws -> (result: ProcessResult, wroteEnvFile: Bool) {
        let directory = try TemporaryDirectory(prefix: "relay-reliability")
        defer { directory.remove() }
        let options = Self.options(endpoints, sessionID: sessionID, directory: directory, systemCA: systemCA, logLevel: "trace")
        let result = try await TestProcess.run(
            products.relayInit, options.arguments,
            environment: TestProcess.minimalEnvironment(["RELAY_INIT_TOKEN": token]),
            // A set-up that wrongly succeeds leaves a sidecar running: fail well inside the time limit.
            timeout: .seconds(20)
        )
        return (result, fileExists(options.envFile))
    }

    /// No event announces a file: the env file is polled (it is written atomically, so once it
    /// exists it is complete). Fails at once, with the output, if relay-init exits instead.
    private static func waitForPort(envFile: String, process: RunningProcess) async throws -> Int {
        try await waitUntil("relay-init to write \(envFile)", timeout: .seconds(30)) {
            if let status = process.exitStatus {
                throw HarnessError("relay-init exited with \(status) before listening:\n\(process.stderr)")
            }
            return RelayInitOptions.proxyPort(in: envFile) != nil
        }
        return RelayInitOptions.proxyPort(in: envFile)!
    }

    /// SIGTERM, then the exit status (0 expected: sidecar mode stopped by a signal).
    public func stop() async throws -> Int32 {
        self.process.terminate(signal: SIGTERM)
        defer { self.directory.remove() }
        return try await self.process.wait(timeout: .seconds(15))
    }

    /// After a failed test: kills relay-init, cleans up, and returns its log for the test's
    /// issues.
    public func abandon() -> String {
        self.process.terminate(signal: SIGKILL)
        self.directory.remove()
        return self.process.stderr
    }

    /// Waits until the relay's open descriptors are back to `baseline`. There is no event for a
    /// descriptor count: /proc is polled, with a deadline, and the error names what is open.
    public func waitForFDs(_ baseline: Int, timeout: Duration = .seconds(10), _ after: String) async throws {
        try await self.proc.waitForDescriptors(baseline, name: "relay-init", after: after, timeout: timeout)
    }
}
