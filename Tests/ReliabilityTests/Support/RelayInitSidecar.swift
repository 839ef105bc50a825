import Foundation
import Testing
import TestSupport

/// `relay-init` as a separate process in sidecar mode (no command: it relays until SIGTERM),
/// so that /proc figures are the relay's own and not the test runner's.
final class RelayInitSidecar: Sendable {
    let process: RunningProcess
    /// The relay's CONNECT port (`RELAY_INIT_PROXY_PORT` from the env file).
    let port: Int
    let directory: TemporaryDirectory
    var proc: ProcFS { ProcFS(pid: self.process.pid) }
    var envFile: String { self.directory.file("proxy.env") }

    private init(process: RunningProcess, port: Int, directory: TemporaryDirectory) {
        self.process = process
        self.port = port
        self.directory = directory
    }

    /// Where set-up gets its CA and which endpoint tunnels use.
    struct Endpoints: Sendable {
        /// `--gateway`.
        var gateway: String
        /// `--ws-url`, when the tunnels go elsewhere than the gateway's default endpoint.
        var webSocketURL: String? = nil
        /// `--ca-url`, when the CA comes from elsewhere than the gateway.
        var caURL: String? = nil
    }

    /// Starts the sidecar and returns once it has written its env file.
    ///
    /// - Parameters:
    ///   - systemCA: `--system-ca`; a file that exists, so that no "no system bundle" warning
    ///     clutters the logs the tests read.
    ///   - extra: more options (`--handshake-timeout`, `--keepalive`, …).
    static func start(
        _ endpoints: Endpoints,
        sessionID: String,
        token: String,
        systemCA: String,
        logLevel: String = "warning",
        extra: [String] = [],
        products: Products = .debug
    ) async throws -> RelayInitSidecar {
        let directory = try TemporaryDirectory(prefix: "relay-reliability")
        let process = try TestProcess.start(
            products.relayInit,
            Self.arguments(endpoints, sessionID: sessionID, directory: directory, systemCA: systemCA, logLevel: logLevel) + extra,
            environment: TestProcess.minimalEnvironment(["RELAY_INIT_TOKEN": token])
        )
        do {
            let port = try await Self.waitForPort(envFile: directory.file("proxy.env"), process: process)
            return RelayInitSidecar(process: process, port: port, directory: directory)
        } catch {
            process.terminate(signal: SIGKILL)
            directory.remove()
            throw error
        }
    }

    /// The options every sidecar here gets: files in `directory`, fail closed.
    static func arguments(
        _ endpoints: Endpoints, sessionID: String, directory: TemporaryDirectory, systemCA: String, logLevel: String
    ) -> [String] {
        var arguments = [
            "--gateway", endpoints.gateway,
            "--session-id", sessionID,
            "--env-file", directory.file("proxy.env"),
            "--ca-bundle", directory.file("ca-bundle.crt"),
            "--system-ca", systemCA,
            "--fail-closed",
            "--log-level", logLevel,
        ]
        if let url = endpoints.webSocketURL { arguments += ["--ws-url", url] }
        if let url = endpoints.caURL { arguments += ["--ca-url", url] }
        return arguments
    }

    /// Runs a sidecar whose set-up is expected to fail, to completion: its exit status and log,
    /// and whether it wrote an env file (it must not).
    static func runExpectingSetupFailure(
        _ endpoints: Endpoints, sessionID: String, token: String, systemCA: String, products: Products = .debug
    ) async throws -> (result: ProcessResult, wroteEnvFile: Bool) {
        let directory = try TemporaryDirectory(prefix: "relay-reliability")
        defer { directory.remove() }
        let result = try await TestProcess.run(
            products.relayInit,
            Self.arguments(endpoints, sessionID: sessionID, directory: directory, systemCA: systemCA, logLevel: "trace"),
            environment: TestProcess.minimalEnvironment(["RELAY_INIT_TOKEN": token]),
            // A set-up that wrongly succeeds leaves a sidecar running: fail well inside the time limit.
            timeout: .seconds(20)
        )
        return (result, FileManager.default.fileExists(atPath: directory.file("proxy.env")))
    }

    /// No event announces a file: the env file is polled (it is written atomically, so once it
    /// exists it is complete). Fails at once, with the output, if relay-init exits instead.
    private static func waitForPort(envFile: String, process: RunningProcess) async throws -> Int {
        try await waitUntil("relay-init to write \(envFile)", timeout: .seconds(30)) {
            if let status = process.exitStatus {
                throw SidecarError.exited(status: status, stderr: process.stderr)
            }
            return Self.proxyPort(in: envFile) != nil
        }
        return Self.proxyPort(in: envFile)!
    }

    static func proxyPort(in envFile: String) -> Int? {
        guard let text = try? String(contentsOfFile: envFile, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("export RELAY_INIT_PROXY_PORT=") })
        else { return nil }
        return Int(line.dropFirst("export RELAY_INIT_PROXY_PORT=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'")))
    }

    /// SIGTERM, then the exit status (0 expected: sidecar mode stopped by a signal).
    func stop() async throws -> Int32 {
        self.process.terminate(signal: SIGTERM)
        defer { self.directory.remove() }
        return try await self.process.wait(timeout: .seconds(15))
    }

    /// After a failed test: puts relay-init's log into the test's issues, kills it, cleans up.
    func abandon() {
        Issue.record("relay-init's log:\n\(self.process.stderr)")
        self.process.terminate(signal: SIGKILL)
        self.directory.remove()
    }

    /// Waits until the relay's open descriptors are back to `baseline`. There is no event for a
    /// descriptor count: /proc is polled, with a deadline, and the failure names what is open.
    func waitForFDs(_ baseline: Int, timeout: Duration = .seconds(10), _ after: String) async throws {
        let proc = self.proc
        do {
            try await waitUntil("relay-init's descriptors back to \(baseline) after \(after)", timeout: timeout) {
                proc.openFDs == baseline
            }
        } catch {
            Issue.record("relay-init has \(proc.openFDs ?? -1) descriptors after \(after), baseline \(baseline): \(proc.fdTargets)")
            throw error
        }
    }
}

enum SidecarError: Error, CustomStringConvertible {
    case exited(status: Int32, stderr: String)

    var description: String {
        switch self {
        case .exited(let status, let stderr): "relay-init exited with \(status) before listening:\n\(stderr)"
        }
    }
}

/// A `relay-gateway` process (the reference gateway), listening on a free loopback port.
final class GatewayProcess: Sendable {
    let process: RunningProcess
    let port: Int
    var proc: ProcFS { ProcFS(pid: self.process.pid) }
    var url: String { "http://127.0.0.1:\(self.port)" }

    private init(process: RunningProcess, port: Int) {
        self.process = process
        self.port = port
    }

    static func start(_ arguments: [String], products: Products = .debug) async throws -> GatewayProcess {
        let process = try TestProcess.start(
            products.relayGateway, ["--listen", "127.0.0.1:0", "--insecure-http"] + arguments,
            environment: TestProcess.minimalEnvironment()
        )
        let line = try await process.waitForLine(containing: "relay-gateway listening on", timeout: .seconds(30))
        guard let port = line.split(separator: ":").last.flatMap({ Int($0) }) else {
            process.terminate(signal: SIGKILL)
            throw SidecarError.exited(status: -1, stderr: "cannot parse \(line)")
        }
        return GatewayProcess(process: process, port: port)
    }

    func stop() async {
        self.process.terminate(signal: SIGTERM)
        if (try? await self.process.wait(timeout: .seconds(10))) == nil {
            self.process.terminate(signal: SIGKILL)
            _ = await self.process.wait()
        }
    }
}
