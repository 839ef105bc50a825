import Foundation
import Orchestrator
import RelayProtocol
import TestSupport

/// Two fixed self-signed CA certificates (P-256), for PEM checks that must not depend on a generator.
enum PEMFixtures {
    static let caA = """
        -----BEGIN CERTIFICATE-----
        MIIBkDCCATegAwIBAgIUPpP/PcB+LKp1btwtHMZrAYYUnCgwCgYIKoZIzj0EAwIw
        HTEbMBkGA1UEAwwScmVsYXktaW5pdCB0ZXN0IENBMCAXDTI2MTEyNzA4NDgyNloY
        DzIxMjYxMTAzMDg0ODI2WjAdMRswGQYDVQQDDBJyZWxheS1pbml0IHRlc3QgQ0Ew
        WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQwxdf5iFPPo7du1XbUdVgIIqCcMbp2
        sWh9Zg/mnv2Q4lG3t5A1KzIMpJFnqZBGvrn/QCPLfRBY8MCAP29e8DOeo1MwUTAd
        BgNVHQ4EFgQUvOsk361Ld6GhlG3GYBTkteQWgP4wHwYDVR0jBBgwFoAUvOsk361L
        d6GhlG3GYBTkteQWgP4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBE
        AiA82Se7qJCst79XwP8er8YwhHu9zPfY+ummhE0FdJvoiwIgEnNvdnfp2ZkHiISB
        v6G68ayynmZ6EGCSadx8I9Rn5vY=
        -----END CERTIFICATE-----

        """

    static let caB = """
        -----BEGIN CERTIFICATE-----
        MIIBlTCCATugAwIBAgIUUHnsHq6KQIyiNXD/SOPgH6a+fvUwCgYIKoZIzj0EAwIw
        HzEdMBsGA1UEAwwUcmVsYXktaW5pdCB0ZXN0IENBIDIwIBcNMjYxMTI3MDg0ODI2
        WhgPMjEyNjExMDMwODQ4MjZaMB8xHTAbBgNVBAMMFHJlbGF5LWluaXQgdGVzdCBD
        QSAyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqR1xfN4IZCX+q9feM8GmS3Rp
        /0m7IA9/aO20tJyFAIVoukpejDzA4OHdv0r+rnoUA6bX1EkGeSbCdow7W0j9waNT
        MFEwHQYDVR0OBBYEFA6fcMOuHtlkXJOrJ8npKWhwgI4GMB8GA1UdIwQYMBaAFA6f
        cMOuHtlkXJOrJ8npKWhwgI4GMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
        SAAwRQIhAPMBS+1Z/IebWHrAwK7yEKMPGrahqlbFRu+/THOhNKelAiBOuLN3nJ9y
        D9bqkT7CmmWZjX8aDGpjNEaR0dMGGsALXw==
        -----END CERTIFICATE-----

        """
}

/// A plain-HTTP server in a real `python3` process (http.server): serves files under a
/// directory by path, `/status/N` answers N, `/big/N` sends N bytes, `/slow/S` answers after S seconds. Prints one
/// `REQUEST <path>` line per request, so tests can count attempts.
final class FakeHTTPServer: Sendable {
    let process: RunningProcess
    let port: Int
    let root: String

    private static let script = #"""
        import http.server, os, sys, time
        root = sys.argv[1]
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, format, *args):
                pass
            def do_GET(self):
                print("REQUEST " + self.path, flush=True)
                path = self.path.split("?")[0]
                if path.startswith("/status/"):
                    self.reply(int(path[len("/status/"):]), b"status body\n")
                elif path.startswith("/slow/"):
                    time.sleep(float(path[len("/slow/"):]))
                    self.reply(200, b"slow\n")
                elif path.startswith("/big/"):
                    self.reply(200, b"x" * int(path[len("/big/"):]))
                else:
                    name = os.path.join(root, path.lstrip("/"))
                    if os.path.isfile(name):
                        with open(name, "rb") as f:
                            self.reply(200, f.read())
                    else:
                        self.reply(404, b"not found\n")
            def reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print("listening on", server.server_address[1], flush=True)
        server.serve_forever()
        """#

    private init(process: RunningProcess, port: Int, root: String) {
        self.process = process
        self.port = port
        self.root = root
    }

    /// Starts serving `root` and returns once the server listens.
    static func start(root: String) async throws -> FakeHTTPServer {
        let process = try TestProcess.start("python3", ["-c", Self.script, root], environment: TestProcess.minimalEnvironment())
        let line = try await process.waitForLine(containing: "listening on")
        let port = Int(line.split(separator: " ").last ?? "")!
        return FakeHTTPServer(process: process, port: port, root: root)
    }

    var baseURL: String { "http://127.0.0.1:\(self.port)" }

    func url(_ path: String) -> EndpointURL { EndpointURL(self.baseURL + path)! }

    /// How many requests for `path` the server logged. The server logs before it answers, but
    /// our reader thread may not have read the line yet: wait until `expected` show up (or `wait`),
    /// then report the count, so a test can tell "exactly n" from "more than n".
    func requestCount(_ path: String, expected: Int, wait: Duration = .seconds(5)) async -> Int {
        let count = { self.process.stdout.split(separator: "\n").filter { $0 == "REQUEST \(path)" }.count }
        _ = await eventually(timeout: wait) { count() >= expected }
        return count()
    }

    /// Puts `contents` at `path` (relative to the root), creating directories.
    func serve(_ contents: String, at path: String) throws {
        let file = (self.root as NSString).appendingPathComponent(path)
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
    }

    func stop() {
        self.process.terminate(signal: SIGKILL)
    }
}

/// Runs the real `relay-init` binary.
enum RelayInitBinary {
    static var path: String { Binaries.path("relay-init") }

    /// Variables for a run whose setup fails at the CA fetch (nothing listens on port 1),
    /// so the command runs fail-open without any gateway. Files go to `directory`.
    static func unreachableGateway(_ directory: TemporaryDirectory, token: String = "test-token-not-for-children") -> [String: String] {
        [
            "RELAY_INIT_GATEWAY": "http://127.0.0.1:1",
            "RELAY_INIT_SESSION_ID": "session-1",
            "RELAY_INIT_TOKEN": token,
            "RELAY_INIT_ENV_FILE": directory.file("proxy.env"),
            "RELAY_INIT_CA_BUNDLE": directory.file("ca-bundle.crt"),
            "RELAY_INIT_LOG_LEVEL": "info",
        ]
    }

    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)) async throws -> ProcessResult {
        try await TestProcess.run(self.path, arguments, environment: TestProcess.minimalEnvironment(environment), timeout: timeout)
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> RunningProcess {
        try TestProcess.start(self.path, arguments, environment: TestProcess.minimalEnvironment(environment))
    }
}
