import Foundation
import Testing
import TestSupport

/// relay-init where it is meant to run: in a `workload` network namespace whose one way out is
/// relay-gateway in `gateway`, which alone reaches (and resolves) the target in `target`
/// (`scripts/netns.sh`, through `NetworkRig`). Needs root and iproute2; without them the tests
/// fail, saying so.
@Suite(.timeLimit(.minutes(TestTime.minutes(3))))
struct NetworkRigEndToEndTests {
    /// From the workload, the target is neither reachable nor resolvable (the gateway reaches it:
    /// the failure is the topology, not the target); through relay-init, curl gets it.
    @Test func theWorkloadReachesTheTargetOnlyThroughTheGateway() async throws {
        try await RigStack.with { stack in
            let rig = stack.rig
            let python = try await Python.executable()
            let connect = "import errno, socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\nexcept OSError as e:\n    print(errno.errorcode.get(e.errno, repr(e)))"
            let direct = try await rig.run(.workload, python, ["-c", connect, rig.targetAddress, String(stack.targetPort)])
            #expect(direct.stdout == "ENETUNREACH\n", "direct connection: \(stack.report(direct))")
            let lookup = try await rig.run(.workload, "getent", ["hosts", "target.test"])
            #expect(lookup.status != 0 && lookup.stdout.isEmpty, "name lookup: \(stack.report(lookup))")
            let fromGateway = try await rig.run(
                .gateway, "curl", ["-sS", "--cacert", stack.directory.file("target/ca.pem"), "--resolve", "target.test:\(stack.targetPort):\(rig.targetAddress)", stack.targetURL("/hello")]
            )
            #expect(fromGateway.stdout == "hello from target\n", "from the gateway: \(stack.report(fromGateway))")

            let result = try await stack.runRelayInit(command: ["curl", "-sS", stack.targetURL("/hello")])
            #expect(result.status == 0 && result.stdout == "hello from target\n", "\(stack.report(result))")
        }
    }

    /// git clone (dumb HTTP), pip download (a PEP 503 index) and Python requests, each through
    /// relay-init in the workload, with nothing but what relay-init exports.
    @Test func clientToolsThroughTheGateway() async throws {
        let python = try await Python.executable()
        let fixtures = try TemporaryDirectory(prefix: "relay-init-rig-tools")
        defer { fixtures.remove() }
        let served = fixtures.file("static")
        let home = fixtures.file("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let gitEnvironment = ToolFixtures.gitEnvironment(home: home)
        let contents = "cloned through the rig \(UUID().uuidString)\n"
        try await ToolFixtures.serveRepository(contents: contents, served: served, scratch: fixtures.path, environment: gitEnvironment)
        let package = ClientToolsEndToEndTests.self
        try await prepare(python, ["-c", package.makeIndexScript, served + "/simple", package.packageName, package.packageVersion])

        try await RigStack.with(staticRoot: served) { stack in
            let clone = fixtures.file("clone")
            let git = try await stack.runRelayInit(
                command: ["git", "clone", "-q", stack.targetURL("/static/repo.git"), clone], environment: stack.environment(gitEnvironment)
            )
            #expect(git.status == 0 && readFile(clone + "/README.txt") == contents, "git clone: \(stack.report(git))")

            let downloads = fixtures.file("downloads")
            let pip = try await stack.runRelayInit(
                command: [
                    python, "-m", "pip", "download", "--no-deps", "--index-url", stack.targetURL("/static/simple/"),
                    "-d", downloads, package.packageName,
                ],
                environment: stack.environment(ToolFixtures.pipVariables(home: home))
            )
            let wheel = "/\(package.packageName)/\(package.wheelName)"
            let expected = try Data(contentsOf: URL(fileURLWithPath: served + "/simple" + wheel))
            #expect(
                pip.status == 0 && (try? Data(contentsOf: URL(fileURLWithPath: downloads + "/" + package.wheelName))) == expected,
                "pip download: \(stack.report(pip))"
            )

            let requests = try await stack.runRelayInit(command: [
                python, "-c", "import requests; print(requests.get(\"\(stack.targetURL("/hello"))\").text, end=\"\")",
            ])
            #expect(requests.status == 0 && requests.stdout == "hello from target\n", "requests: \(stack.report(requests))")
        }
    }

    /// As the image runs it: `entrypoint/docker-entrypoint.sh` execs relay-init as PID 1 of a new
    /// PID namespace inside the workload, configured by RELAY_INIT_* variables only.
    @Test func asPID1ThroughTheImageEntrypoint() async throws {
        try await RigStack.with { stack in
            let entrypoint = Products.packageRoot + "/entrypoint/docker-entrypoint.sh"
            let environment = stack.environment([
                "PATH": stack.products.directory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
                "RELAY_INIT_GATEWAY": stack.gateway.url,
                "RELAY_INIT_SESSION_ID": RigStack.session,
                "RELAY_INIT_ENV_FILE": stack.envFile,
                "RELAY_INIT_CA_BUNDLE": stack.caBundle,
                "RELAY_INIT_SYSTEM_CA": Stack.realSystemBundle,
            ])
            let script = """
                echo "pid1=$(cat /proc/1/comm) parent=$PPID"
                curl -sS "$1"
                """
            let result = try await stack.rig.run(
                .workload, "unshare", ["--pid", "--fork", "--mount-proc", "sh", entrypoint, "sh", "-c", script, "sh", stack.targetURL("/hello")],
                environment: environment, timeout: .seconds(60)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "pid1=relay-init parent=1\nhello from target\n", "\(stack.report(result))")
        }
    }

    /// As the Kubernetes Pod runs it: relay-init as a sidecar, and a second process in the same
    /// network namespace that sources the env file.
    @Test func asASidecarWithAClientSourcingTheEnvFile() async throws {
        try await RigStack.with { stack in
            let sidecar = try stack.startSidecar()
            do {
                try await stack.waitForEnvFile(sidecar)
                let client = try await stack.rig.run(
                    .workload, "sh", ["-c", ". \"$0\" && curl -sS \"$1\"", stack.envFile, stack.targetURL("/hello")]
                )
                #expect(client.status == 0 && client.stdout == "hello from target\n", "client: \(client.stderr)\n\(stack.report(sidecar))")
                sidecar.terminate(signal: SIGTERM)
                #expect(try await sidecar.wait(timeout: .seconds(15)) == 0, "\(stack.report(sidecar))")
                #expect(!fileExists(stack.envFile))
            } catch {
                sidecar.terminate(signal: SIGKILL)
                throw error
            }
        }
    }

    /// The workload ↔ gateway link goes down in the middle of a download: the client ends with
    /// an error within its own stall bound (nothing in the SPEC times out a silent download; a
    /// client's bound is what ends it), relay-init lets go of every socket of that tunnel within
    /// its 10 s FIN grace, and once the link is back new tunnels work and nothing is left open.
    @Test func theLinkGoesDownMidTransferAndComesBack() async throws {
        try await RigStack.with { stack in
            // Every tunnel has a WebSocket of its own, closed with it, so "nothing open" is exact.
            // (With the SPEC's pool, section 9.3, this sidecar needs `--pool-size 0`.)
            let sidecar = try stack.startSidecar()
            do {
                try await stack.waitForEnvFile(sidecar)
                let proc = ProcFS(pid: sidecar.pid)
                let baseline = try await proc.idleDescriptorCount()

                let output = stack.directory.file("download")
                // 1 GiB at 4 MiB/s: certainly still running when the link goes down.
                let client = try stack.rig.start(
                    .workload, "sh",
                    ["-c", ". \"$0\" && exec curl -sS --limit-rate 4M --speed-limit 1024 --speed-time 5 -o \"$1\" \"$2\"",
                     stack.envFile, output, stack.targetURL("/bytes/1073741824")]
                )
                try await waitUntil("the download to pass 1 MiB", timeout: .seconds(30)) {
                    if let status = client.exitStatus { throw HarnessError("the download ended with \(status): \(client.stderr)\n\(stack.report(sidecar))") }
                    return ((try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? Int ?? 0) > 1 << 20
                }

                try await stack.rig.link(up: false)
                let cut = ContinuousClock.now
                let status = try await client.wait(timeout: .seconds(30))
                let failedAfter = ContinuousClock.now - cut
                #expect(status != 0, "the download did not fail: \(client.stderr)")
                #expect(failedAfter < TestTime.scaled(.seconds(15)), "the download failed only \(failedAfter) after the link went down")
                // The client is gone: relay-init waits its FIN grace (10 s) for the gateway, then
                // closes the WebSocket, over a link that is still down.
                try await proc.waitForDescriptors(baseline, name: "relay-init", after: "the cut download", timeout: .seconds(20))

                try await stack.rig.link(up: true)
                let again = try await stack.rig.run(
                    .workload, "sh", ["-c", ". \"$0\" && curl -sS --max-time 20 \"$1\"", stack.envFile, stack.targetURL("/hello")]
                )
                #expect(again.status == 0 && again.stdout == "hello from target\n", "after the link came back: \(again.stderr)\n\(stack.report(sidecar))")
                try await proc.waitForDescriptors(baseline, name: "relay-init", after: "a tunnel once the link was back", timeout: .seconds(20))
                #expect(sidecar.exitStatus == nil, "\(stack.report(sidecar))")

                sidecar.terminate(signal: SIGTERM)
                #expect(try await sidecar.wait(timeout: .seconds(15)) == 0, "\(stack.report(sidecar))")
            } catch {
                sidecar.terminate(signal: SIGKILL)
                throw error
            }
        }
    }

    /// 5 % loss each way and 50 ms of round trip on the workload ↔ gateway link: a 64 MiB
    /// download through relay-init arrives whole (SHA-256 of the body).
    @Test func aLargeDownloadArrivesIntactOverALossyLink() async throws {
        let size = 64 << 20
        try await RigStack.with(rtt: 50, loss: 5, products: .preferOptimised) { stack in
            let output = stack.directory.file("download")
            let result = try await stack.runRelayInit(
                command: ["sh", "-c", "curl -sS -o \"$2\" \"$1\" && sha256sum \"$2\"", "sh", stack.targetURL("/bytes/\(size)"), output],
                timeout: .seconds(150)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            let digest = result.stdout.split(separator: " ").first.map(String.init)
            #expect(digest == HTTPSTarget.expectedSHA256(count: size), "\(stack.report(result))")
            // The loss was real: the gateway's namespace (fresh, so the counters are this
            // test's) resent segments.
            let counters = try await stack.rig.run(.gateway, "nstat", ["-az", "TcpOutSegs", "TcpRetransSegs"])
            let values = parseCounters(counters.stdout)
            let sent = values["TcpOutSegs"] ?? 0, resent = values["TcpRetransSegs"] ?? 0
            #expect(sent > 40_000 && resent > sent / 100, "segments sent \(sent), resent \(resent): \(counters.stdout)\(counters.stderr)")
        }
    }
}

/// `NAME VALUE …` lines, as `nstat` prints them, as a dictionary.
private func parseCounters(_ text: String) -> [String: Int] {
    var counters: [String: Int] = [:]
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count >= 2, let value = Int(fields[1]) { counters[String(fields[0])] = value }
    }
    return counters
}
