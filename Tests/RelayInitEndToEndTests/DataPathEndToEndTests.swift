import Foundation
import Testing
import TestSupport

/// The bytes through relay-init: volume, concurrency, a reader that stops, a gateway that
/// never answers the upgrade.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct DataPathEndToEndTests {
    @Test func largeDownloadAndUploadArriveIntact() async throws {
        try await Stack.with { stack in
            let downloadSize = 32 << 20
            let uploadSize = 16 << 20
            let download = stack.directory.file("download")
            // The upload comes from relay-init's own stdin, which the child inherits.
            let script = """
                curl -sS -o "$1" "$2" || exit 10
                curl -sS --data-binary @- "$3"
                """
            let result = try await TestProcess.run(
                Stack.relayInitPath,
                stack.relayInitOptions() + [
                    "--", "sh", "-c", script, "sh", download, stack.targetURL("/bytes/\(downloadSize)"), stack.targetURL("/sha256"),
                ],
                environment: stack.environment(), stdin: Data(HTTPSTarget.expectedBytes(count: uploadSize)), timeout: .seconds(60)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            let received = try Data(contentsOf: URL(fileURLWithPath: download))
            #expect(received.count == downloadSize)
            #expect(received == Data(HTTPSTarget.expectedBytes(count: downloadSize)), "the download differs")
            #expect(result.stdout == "\(HTTPSTarget.expectedSHA256(count: uploadSize)) \(uploadSize)\n", "\(stack.report(result))")
        }
    }

    /// Eight tunnels at once from one client, each its own size: no byte crosses over.
    @Test func parallelTunnelsStayApart() async throws {
        try await Stack.with { stack in
            let sizes = (0..<8).map { (1 << 20) + $0 * 4099 }
            var arguments = ["curl", "-sS", "--parallel", "--parallel-max", "8"]
            for (index, size) in sizes.enumerated() {
                arguments += ["-o", stack.directory.file("part\(index)"), stack.targetURL("/bytes/\(size)")]
            }
            let result = try await stack.runRelayInit(command: arguments)
            #expect(result.status == 0, "\(stack.report(result))")
            for (index, size) in sizes.enumerated() {
                let data = try? Data(contentsOf: URL(fileURLWithPath: stack.directory.file("part\(index)")))
                #expect(data == Data(HTTPSTarget.expectedBytes(count: size)), "part \(index): \(data?.count ?? -1) of \(size) bytes")
            }
        }
    }

    /// A client that asks for 1 GiB and stops reading: relay-init (and the gateway) must
    /// hold back instead of buffering the target's stream (SPEC §6.9).
    @Test func aStalledReaderKeepsMemoryBounded() async throws {
        let python = try await Python.executable()
        try await Stack.with { stack in
            let report = stack.directory.path
            let relayInit = try stack.startRelayInit(command: [
                python, "-c", Self.stalledReaderScript, report, "target.test:\(stack.target.port)", "/bytes/\(1 << 30)",
            ])
            let stalled = report + "/reading.stopped"
            try await waitUntil("the reader to stop", timeout: .seconds(30)) {
                fileExists(stalled) || relayInit.exitStatus != nil
            }
            #expect(readFile(stalled)?.hasPrefix("HTTP/1.1 200") == true, "\(readFile(stalled) ?? "")\n\(stack.report(relayInit))")

            // No event says "the target would have sent everything by now": watch for a
            // while (longer on a slower machine, where the same amount takes longer to buffer).
            // Unbounded, a debug build buffers hundreds of MiB in this time.
            var peak = (relayInit: 0, gateway: 0)
            let end = ContinuousClock.now + TestTime.scaled(.seconds(3))
            while ContinuousClock.now < end {
                peak.relayInit = max(peak.relayInit, ProcFS(pid: relayInit.pid).residentKiB ?? 0)
                peak.gateway = max(peak.gateway, stack.gateway.proc.residentKiB ?? 0)
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(relayInit.exitStatus == nil, "\(stack.report(relayInit))")
            #expect(peak.relayInit < 160 * 1024, "relay-init grew to \(peak.relayInit / 1024) MiB with a stalled reader")
            #expect(peak.gateway < 160 * 1024, "the gateway grew to \(peak.gateway / 1024) MiB with a stalled reader")

            // SIGTERM is forwarded to the reader, which dies of it.
            relayInit.terminate(signal: SIGTERM)
            #expect(try await relayInit.wait(timeout: .seconds(15)) == 128 + SIGTERM, "\(stack.report(relayInit))")
        }
    }

    /// The other direction: a client uploads as fast as it can to a target that never
    /// reads. Its writes must block (backpressure through relay, WebSocket and gateway)
    /// instead of the bytes piling up in relay-init or the gateway.
    @Test func aStalledTargetKeepsMemoryBounded() async throws {
        let python = try await Python.executable()
        try await Stack.with { stack in
            let report = stack.directory.path
            let relayInit = try stack.startRelayInit(command: [python, "-c", Self.stalledTargetScript, report, "loopback.test", "3"])
            let sentFile = report + "/upload.sent"
            try await waitUntil("the upload to stall", timeout: .seconds(30)) {
                fileExists(sentFile) || relayInit.exitStatus != nil
            }
            let sent = try #require(readFile(sentFile).flatMap { Int($0) }, "\(stack.report(relayInit))")
            let relayInitKiB = ProcFS(pid: relayInit.pid).residentKiB ?? 0
            let gatewayKiB = stack.gateway.proc.residentKiB ?? 0
            #expect(relayInit.exitStatus == nil, "\(stack.report(relayInit))")
            // Socket buffers on three hops plus one chunk or two in flight: a few MiB.
            #expect(sent < 128 << 20, "the client wrote \(sent >> 20) MiB into a target that reads nothing")
            #expect(relayInitKiB < 160 * 1024, "relay-init holds \(relayInitKiB / 1024) MiB for a stalled target")
            #expect(gatewayKiB < 160 * 1024, "the gateway holds \(gatewayKiB / 1024) MiB for a stalled target")

            relayInit.terminate(signal: SIGTERM)
            #expect(try await relayInit.wait(timeout: .seconds(15)) == 128 + SIGTERM, "\(stack.report(relayInit))")
        }
    }

    /// `--ws-url` at a server that accepts and never answers: after `--handshake-timeout`
    /// the client gets 504 (the CA still comes from the real gateway).
    @Test func unansweredUpgradeGives504AfterTheHandshakeTimeout() async throws {
        let silent = try await SilentServer.start()
        do {
            try await Stack.with { stack in
                let result = try await stack.runRelayInit(
                    ["--ws-url", "ws://127.0.0.1:\(silent.port)/v1/code/upstreamproxy/ws", "--handshake-timeout", "0.5"],
                    command: ["curl", "-sS", "-w", "%{time_total}", stack.targetURL("/hello")]
                )
                #expect(result.status == 56, "\(stack.report(result))")
                #expect(result.stderr.contains("504"), "\(stack.report(result))")
                // The relay did dial it (the accept may lag behind on a loaded machine: wait for it).
                try await silent.waitForAcceptedConnections(1, timeout: .seconds(30))
                let seconds = Double(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
                #expect(seconds >= 0.45, "504 after \(seconds) s, before the handshake timeout")
            }
        } catch {
            await silent.shutdown()
            throw error
        }
        await silent.shutdown()
    }

    /// Connects through the relay (RELAY_INIT_PROXY_PORT), with a small receive buffer,
    /// speaks TLS to the target (trusting SSL_CERT_FILE), asks for PATH, reads the first
    /// bytes, writes REPORT/reading.stopped (the response's first line) and never reads again.
    static let stalledReaderScript = PythonTunnelClient.prelude + #"""
        import ssl
        report, target, path = sys.argv[1:4]
        host = target.rsplit(":", 1)[0]
        s = open_tunnel(target, receive_buffer=65536)
        tls = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"]).wrap_socket(s, server_hostname=host)
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        first = tls.recv(1024)
        put(report, "reading.stopped", first.split(b"\r\n")[0])
        time.sleep(60)
        """#
}

extension DataPathEndToEndTests {
    /// Listens on a loopback port without ever accepting or reading (the kernel completes
    /// the handshake; the bytes stop in its buffers), tunnels to it as HOST:PORT through the
    /// relay, writes for SECONDS as fast as the socket takes data, then writes
    /// REPORT/upload.sent (bytes accepted by the socket) and keeps everything open.
    static let stalledTargetScript = PythonTunnelClient.prelude + #"""
        report, host, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
        sink = socket.socket()
        sink.bind(("127.0.0.1", 0))
        sink.listen(1)
        s = open_tunnel(f"{host}:{sink.getsockname()[1]}")
        s.settimeout(0.2)
        chunk = b"x" * 65536
        sent = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                sent += s.send(chunk)
            except socket.timeout:
                pass
        put(report, "upload.sent", str(sent))
        time.sleep(60)
        """#
}

