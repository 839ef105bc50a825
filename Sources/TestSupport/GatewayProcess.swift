import Foundation

/// A `relay-gateway` process (the reference gateway) listening on a free loopback port, for
/// the end-to-end and reliability tests that need the real program between relay-init and the
/// targets.
///
/// It runs under `timeout`: should the test process itself die (a crash elsewhere in the run
/// skips every cleanup), the gateway still goes away on its own. `timeout` leads the process
/// group the gateway is in and passes SIGTERM on; ``pid`` is the gateway's own, for /proc.
public final class GatewayProcess: Sendable {
    /// How relay-init reaches the gateway.
    public enum Transport: Sendable {
        /// `--insecure-http`: `http://` and `ws://`.
        case insecureHTTP
        /// `https://` and `wss://` with this certificate chain and key (PEM files).
        case tls(certificatePath: String, keyPath: String)
    }

    /// `timeout` and the gateway under it: output, exit status, signals.
    public let process: RunningProcess
    /// The `relay-gateway` process itself.
    public let pid: Int32
    public let port: Int
    /// The address it listens on (127.0.0.1 unless started with another `listen`).
    public let host: String
    public let transport: Transport

    public var proc: ProcFS { ProcFS(pid: self.pid) }

    /// `http://HOST:PORT`, or for TLS `https://localhost:PORT` (a name in its certificate) when
    /// it listens on 127.0.0.1.
    public var url: String {
        switch self.transport {
        case .insecureHTTP: "http://\(self.host):\(self.port)"
        case .tls: "https://\(self.host == "127.0.0.1" ? "localhost" : self.host):\(self.port)"
        }
    }

    private init(process: RunningProcess, pid: Int32, port: Int, host: String, transport: Transport) {
        self.process = process
        self.pid = pid
        self.port = port
        self.host = host
        self.transport = transport
    }

    /// Starts the gateway with `arguments` (tokens, `--ca-cert`, `--map-host`, …) after its
    /// listen address and transport, and returns once it listens.
    ///
    /// - Parameters:
    ///   - host: the IPv4 address to listen on (any free port).
    ///   - launcher: a command that execs the rest in place, so that the process started is
    ///     still `timeout` (`ip netns exec NS`, to run it in another network namespace).
    public static func start(
        _ arguments: [String], transport: Transport = .insecureHTTP, products: Products = .debug,
        host: String = "127.0.0.1", launcher: [String] = []
    ) async throws -> GatewayProcess {
        var options = ["--listen", "\(host):0"]
        switch transport {
        case .insecureHTTP: options.append("--insecure-http")
        case .tls(let certificatePath, let keyPath): options += ["--tls-cert", certificatePath, "--tls-key", keyPath]
        }
        let command = launcher + ["timeout", "--kill-after=5", "300", products.relayGateway] + options + arguments
        let process = try TestProcess.start(
            command[0], Array(command.dropFirst()),
            environment: TestProcess.minimalEnvironment()
        )
        do {
            let line = try await process.waitForLine(containing: "relay-gateway listening on", timeout: .seconds(30))
            guard let port = line.split(separator: ":").last.flatMap({ Int($0) }) else {
                throw HarnessError("cannot find a port in \"\(line)\"")
            }
            guard let pid = readFile("/proc/\(process.pid)/task/\(process.pid)/children")?
                .split(separator: " ").first.flatMap({ Int32($0) })
            else { throw HarnessError("no relay-gateway process under timeout (pid \(process.pid))") }
            return GatewayProcess(process: process, pid: pid, port: port, host: host, transport: transport)
        } catch {
            process.terminate(signal: SIGKILL, processGroup: true)
            throw error
        }
    }

    /// SIGTERM, then SIGKILL to the whole group if it lingers; returns once it has exited.
    public func stop() async {
        self.process.terminate(signal: SIGTERM)
        if (try? await self.process.wait(timeout: .seconds(10))) == nil {
            self.process.terminate(signal: SIGKILL, processGroup: true)
            _ = try? await self.process.wait(timeout: .seconds(5))
        }
    }

    /// Kills the gateway outright (no graceful close) and waits until it is gone and its port
    /// refuses connections.
    public func kill() async throws {
        self.process.terminate(signal: SIGKILL, processGroup: true)
        _ = try await self.process.wait(timeout: .seconds(10))
        try await waitUntil("the killed gateway's port to close", timeout: .seconds(10)) {
            !canConnect(port: self.port)
        }
    }
}

/// A fixture that could not be set up, with what went wrong.
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Whether a TCP connection to 127.0.0.1:`port` is accepted. A plain blocking `connect`:
/// on loopback it answers at once, with ECONNREFUSED when nothing listens.
public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return result == 0
}
