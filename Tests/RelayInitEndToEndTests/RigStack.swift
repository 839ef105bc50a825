import Foundation
import TestSupport

/// The deployment of ``Stack``, spread over the hosts of a ``NetworkRig``:
///
/// - `relay-test-target` in `target`, listening on the target's address, with a fresh CA of its
///   own (`DIR/target/ca.pem`) and a certificate for `target.test`;
/// - `relay-gateway` in `gateway`, on the address the workload sees, serving that CA at
///   `…/ca-cert` and mapping `target.test` to the target: only the gateway resolves the name;
/// - relay-init and its clients in `workload`, with their files in a temporary directory.
///
/// Use ``with(rtt:jitter:loss:staticRoot:products:_:)``: it stops both servers and removes the
/// rig and the files whether the body returns or throws.
final class RigStack: Sendable {
    static let session = "session-rig"

    let rig: NetworkRig
    let directory: TemporaryDirectory
    let token: String
    let target: RunningProcess
    let targetPort: Int
    let gateway: GatewayProcess
    let products: Products

    private init(
        rig: NetworkRig, directory: TemporaryDirectory, token: String, target: RunningProcess, targetPort: Int,
        gateway: GatewayProcess, products: Products
    ) {
        self.rig = rig
        self.directory = directory
        self.token = token
        self.target = target
        self.targetPort = targetPort
        self.gateway = gateway
        self.products = products
    }

    static func with<T>(
        rtt: Double? = nil, jitter: Double? = nil, loss: Double? = nil, staticRoot: String? = nil, products: Products = .debug,
        _ body: (RigStack) async throws -> T
    ) async throws -> T {
        try await NetworkRig.with(rtt: rtt, jitter: jitter, loss: loss) { rig in
            try await withTeardown(of: try await Self.start(rig: rig, staticRoot: staticRoot, products: products), body) {
                await $0.shutdown()
            }
        }
    }

    private static func start(rig: NetworkRig, staticRoot: String?, products: Products) async throws -> RigStack {
        let directory = try TemporaryDirectory(prefix: "relay-init-rig")
        var target: RunningProcess?
        do {
            let certificates = directory.file("target")
            var arguments = ["--cert-dir", certificates, "--listen", "\(rig.targetAddress):0", "--names", "target.test"]
            if let staticRoot { arguments += ["--static-root", staticRoot] }
            // Under `timeout`, like the gateway: a test process killed outright leaves no server
            // running for good (its rig goes at the next `netns.sh up`, with what runs in it).
            let started = try rig.start(
                .target, "timeout", ["--kill-after=5", String(Int(TestTime.scaled(seconds: 300))), Binaries.path("relay-test-target")] + arguments
            )
            target = started
            let line = try await started.waitForLine(containing: "relay-test-target listening on", timeout: .seconds(30))
            guard let port = line.split(separator: ":").last.flatMap({ Int($0) }) else {
                throw HarnessError("cannot find a port in \"\(line)\"")
            }

            let token = "tok-\(UUID().uuidString)"
            let gateway = try await GatewayProcess.start(
                [
                    "--token", "\(Self.session):\(token)",
                    "--ca-cert", certificates + "/ca.pem",
                    "--map-host", "target.test=\(rig.targetAddress)",
                ],
                products: products, host: rig.gatewayAddress, launcher: rig.launcher(.gateway)
            )
            return RigStack(
                rig: rig, directory: directory, token: token, target: started, targetPort: port, gateway: gateway, products: products
            )
        } catch {
            target?.terminate(signal: SIGKILL)
            directory.remove()
            throw error
        }
    }

    /// Stops the gateway and the target, removes the files (the rig goes with `NetworkRig.with`).
    func shutdown() async {
        await self.gateway.stop()
        self.target.terminate(signal: SIGTERM)
        if (try? await self.target.wait(timeout: .seconds(10))) == nil {
            self.target.terminate(signal: SIGKILL)
        }
        self.directory.remove()
    }

    func targetURL(_ path: String) -> String {
        "https://target.test:\(self.targetPort)\(path)"
    }

    var envFile: String { self.directory.file("run/proxy.env") }
    var caBundle: String { self.directory.file("run/ca-bundle.crt") }

    /// relay-init's options for this stack, before `--`.
    func relayInitOptions(_ extra: [String] = []) -> [String] {
        RelayInitOptions(
            gateway: self.gateway.url, sessionID: Self.session, envFile: self.envFile, caBundle: self.caBundle,
            systemCA: Stack.realSystemBundle, extra: extra
        ).arguments
    }

    /// A minimal environment with the token in `RELAY_INIT_TOKEN`.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        TestProcess.minimalEnvironment(["RELAY_INIT_TOKEN": self.token].merging(extra) { _, new in new })
    }

    /// `relay-init OPTIONS -- COMMAND…` in `workload`, to completion.
    func runRelayInit(
        _ extra: [String] = [], command: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(60)
    ) async throws -> ProcessResult {
        try await self.rig.run(
            .workload, self.products.relayInit, self.relayInitOptions(extra) + ["--"] + command,
            environment: environment ?? self.environment(), timeout: timeout
        )
    }

    /// relay-init as a sidecar (no command) in `workload`, running.
    func startSidecar(_ extra: [String] = []) throws -> RunningProcess {
        try self.rig.start(.workload, self.products.relayInit, self.relayInitOptions(extra), environment: self.environment())
    }

    /// Waits until the sidecar's env file is complete, failing early if it exits instead.
    func waitForEnvFile(_ sidecar: RunningProcess) async throws {
        try await waitUntil("the env file \(self.envFile) with HTTPS_PROXY", timeout: .seconds(30)) {
            if let status = sidecar.exitStatus {
                throw HarnessError("the sidecar exited with \(status) before writing the env file\n\(self.report(sidecar))")
            }
            return readFile(self.envFile)?.contains("HTTPS_PROXY") == true
        }
    }

    func report(_ result: ProcessResult) -> String {
        result.report(("gateway stderr", self.gateway.process.stderr), ("target stderr", self.target.stderr))
    }

    func report(_ process: RunningProcess) -> String {
        process.report(("gateway stderr", self.gateway.process.stderr), ("target stderr", self.target.stderr))
    }
}
