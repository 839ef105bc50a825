import Foundation
import TestSupport

/// A running HTTPS target for "localhost" with its CA written to `dir/ca.pem`.
struct TargetFixture {
    let directory: TemporaryDirectory
    let target: HTTPSTarget
    var caPath: String { directory.file("ca.pem") }

    /// Runs `body` against a fresh target; always shuts it down and removes the directory.
    static func with(
        staticRoot: ((TemporaryDirectory) throws -> String)? = nil,
        _ body: (TargetFixture) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ca = TestCA()
        try ca.writeCertificate(to: directory.file("ca.pem"))
        let leaf = try ca.issue(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        let target = try await HTTPSTarget.start(tls: leaf, staticRoot: try staticRoot?(directory))
        let fixture = TargetFixture(directory: directory, target: target)
        do {
            try await body(fixture)
        } catch {
            await target.shutdown()
            throw error
        }
        await target.shutdown()
    }

    /// Runs the real curl against the target, isolated from the machine's proxy/CA variables.
    func curl(_ arguments: [String]) async throws -> ProcessResult {
        try await TestProcess.run(
            Tools.which("curl") ?? "/usr/bin/curl",
            ["--silent", "--show-error"] + arguments,
            environment: TestProcess.minimalEnvironment(),
            timeout: .seconds(20)
        )
    }
}

/// A blocking TCP client, enough to talk to the raw servers: connect, send,
/// half-close, read to EOF. Runs on a detached task since it blocks.
enum RawTCP {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func exchange(port: Int, sending payload: [UInt8]) async throws -> [UInt8] {
        try await Task.detached {
            let fd = try connect(port: port)
            defer { close(fd) }

            // Send and receive at the same time would need two threads; the
            // payloads used here fit in the socket buffers, so sequential is fine.
            var offset = 0
            while offset < payload.count {
                let sent = payload[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { throw Failure(description: "send: errno \(errno)") }
                offset += sent
            }
            shutdown(fd, Int32(SHUT_WR))

            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    received += buffer[0..<count]
                } else if count == 0 {
                    return received
                } else if errno != EINTR {
                    throw Failure(description: "recv: errno \(errno)")
                }
            }
        }.value
    }

    /// A connected socket to 127.0.0.1:`port`; the caller closes it.
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect: errno \(errno)")
        }
        return fd
    }
}
