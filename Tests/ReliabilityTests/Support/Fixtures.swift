import Foundation
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// Serves the files of a directory at `http://127.0.0.1:PORT/static/NAME`: the CA endpoint for
/// relay-init's set-up when the tunnels go to a fake gateway.
final class FileServer: Sendable {
    let directory: TemporaryDirectory
    let server: HTTPSTarget

    private init(directory: TemporaryDirectory, server: HTTPSTarget) {
        self.directory = directory
        self.server = server
    }

    static func start() async throws -> FileServer {
        let directory = try TemporaryDirectory(prefix: "relay-reliability-files")
        let server = try await HTTPSTarget.start(tls: nil, staticRoot: directory.path)
        return FileServer(directory: directory, server: server)
    }

    func write(_ name: String, _ contents: Data) throws {
        try contents.write(to: URL(fileURLWithPath: self.directory.file(name)))
    }

    func url(_ name: String) -> String { self.server.url("/static/\(name)") }

    func shutdown() async {
        await self.server.shutdown()
        self.directory.remove()
    }
}

/// relay-init in front of a ``FakeGateway``: the set-up of every fault test, and the checks
/// that follow every fault.
///
/// ``with(extra:_:)`` starts a CA file server, the fake gateway and a relay-init sidecar whose
/// tunnels go to the fake; opens one tunnel to warm the relay up (first-use allocations are not
/// leaks); records relay-init's descriptor count as the baseline and zeroes the fake's counters;
/// runs the fault; then proves
/// that the relay still serves a fresh tunnel, that every connection to the fake is closed and
/// that relay-init's descriptors are back to the baseline; and finally that SIGTERM stops it
/// with status 0.
final class FaultBed: Sendable {
    let files: FileServer
    let fake: FakeGateway
    let relay: RelayInitSidecar
    let baselineFDs: Int
    static let session = "session-faults"
    static let token = "token-faults-\(UUID().uuidString)"

    private init(files: FileServer, fake: FakeGateway, relay: RelayInitSidecar, baselineFDs: Int) {
        self.files = files
        self.fake = fake
        self.relay = relay
        self.baselineFDs = baselineFDs
    }

    var port: Int { self.relay.port }

    static func with(
        extra: [String] = [],
        webSocketURL: String? = nil,
        _ body: (FaultBed) async throws -> Void
    ) async throws {
        let files = try await FileServer.start()
        let fake: FakeGateway
        do {
            fake = try await FakeGateway.start()
        } catch {
            await files.shutdown()
            throw error
        }
        var relay: RelayInitSidecar?
        do {
            try files.write("ca.pem", Data(TestCA().certificatePEM.utf8))
            relay = try await RelayInitSidecar.start(
                .init(gateway: "http://127.0.0.1:\(fake.port)", webSocketURL: webSocketURL, caURL: files.url("ca.pem")),
                sessionID: Self.session, token: Self.token, systemCA: files.directory.file("ca.pem"),
                // Debug: a failing test shows what the relay did, and every fault runs through the
                // log calls of its path.
                logLevel: "debug", extra: extra
            )
            let bed = try await FaultBed.warmUp(files: files, fake: fake, relay: relay!, throughFake: webSocketURL == nil)
            try await body(bed)
            try await bed.checkRecovered(throughFake: webSocketURL == nil)
            if ProcessInfo.processInfo.environment["RELIABILITY_SHOW_LOGS"] != nil {
                print("--- relay-init's log ---\n\(bed.log)")
            }
            let status = try await relay!.stop()
            #expect(status == 0, "relay-init stopped with \(status):\n\(relay!.process.stderr)")
        } catch {
            if let relay { Issue.record("relay-init's log:\n\(relay.abandon())") }
            await fake.shutdown()
            await files.shutdown()
            throw error
        }
        await fake.shutdown()
        await files.shutdown()
    }

    private static func warmUp(files: FileServer, fake: FakeGateway, relay: RelayInitSidecar, throughFake: Bool) async throws -> FaultBed {
        if throughFake {
            try await ConnectTunnel.echoRoundTrip(relayPort: relay.port, target: "echo.test:443", "to warm up")
            try await fake.waitUntilNoConnectionIsOpen()
        }
        fake.resetCounters()
        let baseline = try await relay.proc.idleDescriptorCount()
        return FaultBed(files: files, fake: fake, relay: relay, baselineFDs: baseline)
    }

    private func checkRecovered(throughFake: Bool) async throws {
        if throughFake {
            self.fake.answerUpgrades(with: .accept)
            try await ConnectTunnel.echoRoundTrip(relayPort: self.port, target: "echo.test:443", "after the fault")
            try await self.fake.waitUntilNoConnectionIsOpen()
        }
        try await self.relay.waitForFDs(self.baselineFDs, "the fault and a fresh tunnel")
        #expect(self.relay.process.exitStatus == nil, "relay-init exited:\n\(self.relay.process.stderr)")
    }

    /// relay-init's log so far.
    var log: String { self.relay.process.stderr }

    /// Waits for relay-init to log a line containing `text` (its stderr is read by another
    /// thread, so a line written before the response the test saw may not be in yet).
    @discardableResult
    func waitForLog(_ text: String) async throws -> String {
        try await self.relay.process.waitForLine(containing: text, timeout: .seconds(10))
    }
}

/// relay-init in front of the reference gateway (`relay-gateway`, a process too), with an echo
/// server behind it as `echo.test`: the set-up of the gateway-side faults, the load tests and
/// the memory tests.
///
/// ``with(gatewayArguments:relayArguments:products:_:)`` warms the relay up with one tunnel,
/// records both processes' descriptor counts, runs the body, and then proves that a fresh
/// tunnel works and that both processes are back to their baselines.
final class StackBed: Sendable {
    let directory: TemporaryDirectory
    let echo: EchoServer
    let gateway: GatewayProcess
    let relay: RelayInitSidecar
    let baseline: (relayFDs: Int, gatewayFDs: Int)
    static let session = "session-stack"
    static let token = "token-stack-\(UUID().uuidString)"

    private init(directory: TemporaryDirectory, echo: EchoServer, gateway: GatewayProcess, relay: RelayInitSidecar, baseline: (Int, Int)) {
        self.directory = directory
        self.echo = echo
        self.gateway = gateway
        self.relay = relay
        self.baseline = baseline
    }

    var port: Int { self.relay.port }
    var echoTarget: String { "echo.test:\(self.echo.port)" }

    /// Returns the bed once both processes have stopped, for tests that read their whole logs.
    @discardableResult
    static func with(
        gatewayArguments: [String] = [],
        relayArguments: [String] = [],
        relayLogLevel: String = "warning",
        products: Products = .debug,
        _ body: (StackBed) async throws -> Void
    ) async throws -> StackBed {
        let directory = try TemporaryDirectory(prefix: "relay-reliability-stack")
        let caPath = directory.file("ca.pem")
        var echo: EchoServer?
        var gateway: GatewayProcess?
        var relay: RelayInitSidecar?
        let bed: StackBed
        do {
            try TestCA().writeCertificate(to: caPath)
            echo = try await EchoServer.start()
            gateway = try await GatewayProcess.start(
                ["--token", "\(Self.session):\(Self.token)", "--ca-cert", caPath, "--map-host", "echo.test=127.0.0.1"] + gatewayArguments,
                products: products
            )
            relay = try await RelayInitSidecar.start(
                .init(gateway: gateway!.url), sessionID: Self.session, token: Self.token, systemCA: caPath,
                logLevel: relayLogLevel, extra: relayArguments, products: products
            )
            let echoTarget = "echo.test:\(echo!.port)"
            try await ConnectTunnel.echoRoundTrip(relayPort: relay!.port, target: echoTarget, "to warm up")
            // The warm-up tunnel's sockets close asynchronously in both processes: the baselines
            // are counted once neither holds a connection any more.
            let idleGateway = try await gateway!.proc.idleDescriptorCount()
            let idleRelay = try await relay!.proc.idleDescriptorCount()
            bed = StackBed(directory: directory, echo: echo!, gateway: gateway!, relay: relay!, baseline: (idleRelay, idleGateway))
            try await body(bed)

            try await ConnectTunnel.echoRoundTrip(relayPort: bed.port, target: echoTarget, "afterwards")
            try await relay!.waitForFDs(bed.baseline.relayFDs, "the test and a fresh tunnel")
            try await bed.waitForGatewayFDs(bed.baseline.gatewayFDs, "the test and a fresh tunnel")
            let status = try await relay!.stop()
            #expect(status == 0, "relay-init stopped with \(status):\n\(relay!.process.stderr)")
        } catch {
            if let relay { Issue.record("relay-init's log:\n\(relay.abandon())") }
            if let gateway { Issue.record("relay-gateway's log:\n\(gateway.process.stderr)") }
            await gateway?.stop()
            await echo?.shutdown()
            directory.remove()
            throw error
        }
        await gateway?.stop()
        await echo?.shutdown()
        directory.remove()
        return bed
    }

    func waitForGatewayFDs(_ baseline: Int, timeout: Duration = .seconds(10), _ after: String) async throws {
        try await self.gateway.proc.waitForDescriptors(baseline, name: "relay-gateway", after: after, timeout: timeout)
    }
}

/// Polls `sample` until it has returned the same value for `quiet`, and returns that value: for
/// figures of another process that settle without announcing it and have no condition to wait
/// for (RSS; a descriptor count has one, see `ProcFS.idleDescriptorCount`). Both durations
/// stretch with `TestTime.scale`.
func settledValue(
    _ what: String, quiet: Duration = .milliseconds(200), timeout: Duration = .seconds(10), _ sample: () -> Int?
) async throws -> Int {
    let quiet = TestTime.scaled(quiet)
    let timeout = TestTime.scaled(timeout)
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var last = sample()
    var stableSince = clock.now
    while clock.now - stableSince < quiet {
        guard clock.now < deadline else { throw HarnessError("\(what): still changing after \(timeout) (last \(last.map(String.init) ?? "nil"))") }
        try await Task.sleep(for: .milliseconds(10))
        let now = sample()
        if now != last {
            last = now
            stableSince = clock.now
        }
    }
    guard let last else { throw HarnessError("\(what): no value") }
    return last
}
