import ArgumentParser
import Foundation
import Logging
import RelayProtocol
import ServiceLifecycle

/// A local HTTPS target with its own throwaway CA, for the demo and the
/// benchmarks: clients trust `DIR/ca.pem` and reach the endpoints of
/// `HTTPSTarget` (`/hello`, `/bytes/N`, `/sha256`, `/static/…`). Runs `TargetService` in a
/// `ServiceGroup` whose graceful-shutdown signals are SIGTERM and SIGINT.
@main
struct RelayTestTargetCommand: AsyncParsableCommand {
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
        let service = TargetService(
            address: try Self.listenAddress(listen),
            certDirectory: certDirectory,
            dnsNames: dnsNames,
            plainHTTP: plainHTTP,
            staticRoot: staticRoot
        )
        // The group's signal handlers are in place before the service starts, so a signal
        // during start-up is not lost: the target starts, then stops.
        let group = ServiceGroup(
            services: [service],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "relay-test-target")
        )
        try await group.run()
    }
}
