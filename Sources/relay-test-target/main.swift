import ArgumentParser
import RelayProtocol
import Dispatch
import Foundation
import TestSupport

/// A local HTTPS target with its own throwaway CA, for the demo and the
/// benchmarks: clients trust `DIR/ca.pem` and reach the endpoints of
/// `HTTPSTarget` (`/hello`, `/bytes/N`, `/sha256`, `/static/…`).
@main
struct RelayTestTarget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay-test-target",
        abstract: "Serve the relay-init test endpoints over HTTPS with a freshly made CA.",
        discussion: """
            Writes DIR/ca.pem (the CA to trust), DIR/server.pem and DIR/server-key.pem, \
            then prints one line "relay-test-target listening on HOST:PORT" and serves \
            until SIGTERM or SIGINT (exit 0).
            """
    )

    @Option(name: .customLong("cert-dir"), help: ArgumentHelp("Directory for ca.pem and the server certificate (created if missing).", valueName: "DIR"))
    var certDirectory: String

    @Option(help: ArgumentHelp("Address to listen on; port 0 picks a free port. IPv6 as [::1]:0.", valueName: "ADDR:PORT"))
    var listen: String = "127.0.0.1:0"

    @Option(help: ArgumentHelp("Comma-separated DNS names for the server certificate (127.0.0.1 and ::1 are always included).", valueName: "NAMES"))
    var names: String = "target.test,localhost"

    @Option(name: .customLong("static-root"), help: ArgumentHelp("Directory served under /static/.", valueName: "DIR"))
    var staticRoot: String?

    @Flag(name: .customLong("plain-http"), help: "Serve plain HTTP instead of HTTPS (ca.pem is still written).")
    var plainHTTP = false

    func validate() throws {
        _ = try Self.listenAddress(listen)
        if dnsNames.isEmpty {
            throw ValidationError("--names needs at least one name")
        }
        if let staticRoot {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: staticRoot, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--static-root \(staticRoot) is not a directory")
            }
        }
    }

    private static func listenAddress(_ text: String) throws -> ListenAddress {
        do {
            return try ListenAddress(parsing: text)
        } catch {
            throw ValidationError("--listen: \(error)")
        }
    }

    private var dnsNames: [String] {
        names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let address = try Self.listenAddress(listen)
        // Signals become events on a dispatch source; ignoring them first
        // stops the default action (exit without cleanup).
        let stop = SignalWaiter(signals: [SIGTERM, SIGINT])

        try FileManager.default.createDirectory(atPath: certDirectory, withIntermediateDirectories: true)
        let ca = TestCA()
        try ca.writeCertificate(to: (certDirectory as NSString).appendingPathComponent("ca.pem"))
        let leaf = try ca.issue(dnsNames: dnsNames, ipAddresses: ["127.0.0.1", "::1"])
        try leaf.writeFiles(to: certDirectory, name: "server")

        let target = try await HTTPSTarget.start(
            host: address.host, port: address.port, tls: plainHTTP ? nil : leaf, staticRoot: staticRoot
        )
        let shownHost = address.host.contains(":") ? "[\(address.host)]" : address.host
        print("relay-test-target listening on \(shownHost):\(target.port)")
        // Scripts wait for this line through a pipe, where stdout is block-buffered.
        fflush(nil)

        await stop.wait()
        await target.shutdown()
    }
}

/// Waits for the first of some signals, delivered through DispatchSource.
/// Owned by `run()` alone; the sources must live as long as it waits.
final class SignalWaiter {
    private let sources: [DispatchSourceSignal]
    private let stream: AsyncStream<Void>

    init(signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        self.stream = stream
        self.sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
    }

    func wait() async {
        for await _ in stream {
            return
        }
    }
}
