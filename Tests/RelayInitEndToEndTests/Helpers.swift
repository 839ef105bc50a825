import Foundation
import TestSupport

/// `NAME=value` lines (as `env` prints them) as a dictionary; later lines win.
func parseEnvironment(_ text: some StringProtocol) -> [String: String] {
    var result: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 { result[String(parts[0])] = String(parts[1]) }
    }
    return result
}

/// The real interpreter behind `python3` (on a pyenv machine `python3` is a shim that needs
/// the user's HOME and pyenv variables, which the clients here run without).
enum Python {
    static func executable() async throws -> String {
        let result = try await TestProcess.run("python3", ["-c", "import sys; print(sys.executable)"])
        let path = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, path.hasPrefix("/") else {
            throw HarnessError("cannot locate python3's executable: \(result.stderr)")
        }
        return path
    }
}

/// Runs a command that prepares fixtures (git, python) and fails the test with its output
/// when it does not exit 0.
@discardableResult
func prepare(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String]? = nil,
    currentDirectory: String? = nil
) async throws -> ProcessResult {
    let result = try await TestProcess.run(
        executable, arguments, environment: environment ?? TestProcess.minimalEnvironment(),
        currentDirectory: currentDirectory, timeout: .seconds(60)
    )
    guard result.status == 0 else {
        throw HarnessError("fixture step failed: \(executable) \(arguments.joined(separator: " "))\nstatus \(result.status)\n\(result.stdout)\n\(result.stderr)")
    }
    return result
}

/// A FIFO the test writes to when a child script may go on (`read line < FIFO` in the
/// script). Opened read-write, so opening never blocks and a line written before the child
/// opens it still waits in the pipe.
final class Gate: Sendable {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        guard mkfifo(path, 0o600) == 0 else { throw HarnessError("mkfifo \(path): \(String(cString: strerror(errno)))") }
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
        self.path = path
        self.fd = fd
    }

    func release() {
        _ = "go\n".withCString { write(self.fd, $0, 3) }
    }

    deinit {
        close(self.fd)
    }
}

/// What the Python tunnel clients below share: `put` writes a report file atomically (the test
/// polls for it), `open_tunnel` sends a CONNECT to the relay at RELAY_INIT_PROXY_PORT and reads
/// the answer's head a byte at a time (so nothing after it is consumed), exiting unless it is a
/// 200. Each script is this prelude followed by its own lines.
enum PythonTunnelClient {
    static let prelude = #"""
        import os, socket, sys, time

        def put(report, name, text):
            with open(os.path.join(report, name + ".tmp"), "wb" if isinstance(text, bytes) else "w") as f:
                f.write(text)
            os.rename(os.path.join(report, name + ".tmp"), os.path.join(report, name))

        def open_tunnel(target, receive_buffer=None):
            s = socket.socket()
            if receive_buffer:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            s.connect(("127.0.0.1", int(os.environ["RELAY_INIT_PROXY_PORT"])))
            s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                byte = s.recv(1)
                if not byte:
                    sys.exit("tunnel closed: " + head.decode(errors="replace"))
                head += byte
            if not head.startswith(b"HTTP/1.1 200"):
                sys.exit("tunnel refused: " + head.decode(errors="replace"))
            return s

        """#
}

/// A client that opens one CONNECT tunnel through the relay and leaves it idle: a Python
/// script (`python -c IdleTunnel.script REPORT_DIR HOST:PORT`, with RELAY_INIT_PROXY_PORT
/// set) that writes `REPORT_DIR/tunnel.open` (the relay's answer) once the tunnel is up,
/// then blocks reading until the relay closes it and writes `REPORT_DIR/tunnel.closed`:
/// `eof EPOCH` (the wall-clock time it saw the end) or the error.
/// Idle means no bytes buffered anywhere: the close is seen the moment it happens, and the
/// time is taken by the client, whatever the load on the test process.
enum IdleTunnel {
    // Not `open_tunnel`: whatever the relay answers is the report, a refusal included.
    static let script = PythonTunnelClient.prelude + #"""
        report, target = sys.argv[1], sys.argv[2]
        s = socket.create_connection(("127.0.0.1", int(os.environ["RELAY_INIT_PROXY_PORT"])))
        s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        put(report, "tunnel.open", head.decode(errors="replace"))
        try:
            while s.recv(65536):
                pass
            put(report, "tunnel.closed", f"eof {time.time():.3f}")
        except OSError as error:
            put(report, "tunnel.closed", repr(error))
        """#

    static func openFile(_ report: String) -> String { report + "/tunnel.open" }
    static func closedFile(_ report: String) -> String { report + "/tunnel.closed" }

    /// When the client saw the tunnel end (seconds since the epoch), if it saw a clean EOF.
    static func closedAt(_ report: String) -> Double? {
        guard let text = readFile(closedFile(report)), text.hasPrefix("eof ") else { return nil }
        return Double(text.dropFirst(4))
    }
}

/// A download that is provably in flight while relay-init drains: a Python client
/// (`python -c DrainClient.script REPORT_DIR HOST:PORT PATH`, with RELAY_INIT_PROXY_PORT
/// and SSL_CERT_FILE set) that tunnels to the target, asks for PATH over TLS, reads the
/// first bytes and writes `REPORT_DIR/download.started`; then waits until the relay
/// refuses new connections (relay-init is draining), and only then reads the rest of the
/// body and writes `REPORT_DIR/download.done` as `SHA256HEX COUNT`. The order is fixed by
/// the client, not by how fast the test process reacts.
enum DrainClient {
    static let script = PythonTunnelClient.prelude + #"""
        import hashlib, ssl
        report, target, path = sys.argv[1:4]
        host = target.rsplit(":", 1)[0]
        port = int(os.environ["RELAY_INIT_PROXY_PORT"])
        s = open_tunnel(target)
        tls = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"]).wrap_socket(s, server_hostname=host)
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += tls.recv(65536)
        header, body = response.split(b"\r\n\r\n", 1)
        length = int([line.split(b":", 1)[1] for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")][0])
        put(report, "download.started", str(len(body)))
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.02)
        digest = hashlib.sha256(body)
        count = len(body)
        while count < length:
            data = tls.recv(min(1 << 20, length - count))
            if not data:
                break
            digest.update(data)
            count += len(data)
        put(report, "download.done", f"{digest.hexdigest()} {count}")
        """#
}
