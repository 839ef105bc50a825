import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle

/// `relay-gateway`: the command line of SPEC §7. Its options and their checks are
/// `GatewayArguments`; it runs `GatewayService` in a `ServiceGroup` whose graceful-shutdown
/// signals are SIGTERM and SIGINT.
public struct RelayGatewayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "relay-gateway",
        abstract: "The reference upstream gateway for relay-init.",
        usage: """
            relay-gateway [--listen ADDR:PORT] (--token SESSION:TOKEN ... | --tokens-file PATH)
                          (--tls-cert PEM --tls-key PEM | --insecure-http) [--ca-cert PEM]
                          [--allow PATTERN ...] [--deny PATTERN ...] [--map-host NAME=ADDRESS ...]
            """,
        discussion: """
            Serves two endpoints:
              GET /v1/code/upstreamproxy/ca-cert  the --ca-cert file (404 without)
              GET /v1/code/upstreamproxy/ws       tunnels over WebSocket; needs
                  Authorization: Bearer TOKEN and Content-Type: application/proto
            Each tunnel starts with a CONNECT head whose Proxy-Authorization is
            Basic base64(SESSION:TOKEN) of the bearer token's session.

            On start it prints "relay-gateway listening on ADDR:PORT" to stdout.
            Logs go to stderr. SIGTERM or SIGINT: stop accepting, close the
            tunnels, exit 0. Bad usage exits 64.

            --allow/--deny patterns are HOST:PORT. HOST is a name, *, *.name
            (any subdomain), a name with * labels, or [IPv6]; PORT is a number
            or *. Deny wins over allow; without --allow every target is allowed.

            Examples:
              relay-gateway --insecure-http --listen 127.0.0.1:0 --token s1:secret

              relay-gateway --listen '[::]:8443' --tls-cert gw.pem \\
                  --tls-key gw-key.pem --tokens-file /etc/relay-gateway/tokens \\
                  --ca-cert ca.pem --allow '*.npmjs.org:443' --deny '*:25'

              relay-gateway --insecure-http --token s1:secret \\
                  --map-host target.test=127.0.0.1
            """
    )

    @OptionGroup public var arguments: GatewayArguments

    public init() {}

    /// Bad usage exits 64 before anything starts.
    public func validate() throws {
        _ = try self.settings()
    }

    public func run() async throws {
        let settings = try self.settings()
        settings.logFormat.bootstrap(level: settings.logLevel)
        let logger = Logger(label: "relay-gateway")
        let service = GatewayService(configuration: settings.configuration(logger: logger)) { gateway in
            // Written straight to the file descriptor: no stdio buffer that could hold it back.
            FileHandle.standardOutput.write(Data("relay-gateway listening on \(gateway.listenAddress)\n".utf8))
        }
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
        } catch {
            FileHandle.standardError.write(Data("relay-gateway: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func settings() throws(ValidationError) -> GatewaySettings {
        do {
            return try self.arguments.resolve()
        } catch {
            throw ValidationError(error.description)
        }
    }
}
