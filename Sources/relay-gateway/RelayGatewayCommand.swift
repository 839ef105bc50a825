import ArgumentParser
import RelayProtocol
import Dispatch
import Foundation
import Gateway
import Logging
import RelayLogging
import NIOCore

/// `relay-gateway`: the command line of SPEC §7 around `Gateway.start`.
@main
struct RelayGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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

    @Option(help: ArgumentHelp("Address to listen on; port 0 picks a free port; IPv6 in brackets.", valueName: "ADDR:PORT"))
    var listen = "127.0.0.1:8443"

    @Option(
        name: .customLong("token"),
        help: ArgumentHelp("An accepted session and its token (repeatable).", valueName: "SESSION:TOKEN")
    )
    var tokens: [String] = []

    @Option(help: ArgumentHelp("File of SESSION:TOKEN lines; blank lines and # comments are ignored.", valueName: "PATH"))
    var tokensFile: String?

    @Option(help: ArgumentHelp("TLS certificate chain (PEM); needs --tls-key.", valueName: "PEM"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM); needs --tls-cert.", valueName: "PEM"))
    var tlsKey: String?

    @Flag(help: "Serve plain HTTP and ws:// instead of TLS (tests, or behind a TLS-terminating proxy).")
    var insecureHttp = false

    @Option(help: ArgumentHelp("CA certificate (PEM) served at /v1/code/upstreamproxy/ca-cert.", valueName: "PEM"))
    var caCert: String?

    @Option(help: ArgumentHelp("Allow only targets matching one of these patterns (repeatable).", valueName: "HOST:PORT-PATTERN"))
    var allow: [String] = []

    @Option(help: ArgumentHelp("Refuse targets matching this pattern with 403 (repeatable).", valueName: "HOST:PORT-PATTERN"))
    var deny: [String] = []

    @Option(help: ArgumentHelp("Dial ADDRESS whenever a tunnel asks for NAME (repeatable).", valueName: "NAME=ADDRESS"))
    var mapHost: [String] = []

    @Option(help: ArgumentHelp("Bound on resolving and connecting to a target; then 504.", valueName: "SECONDS"))
    var dialTimeout: Double = 10

    @Option(help: ArgumentHelp("Open tunnels allowed per session; more are refused with 429.", valueName: "N"))
    var maxTunnelsPerSession = GatewayConfiguration.defaultMaxTunnelsPerSession

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "LEVEL"))
    var logLevel = "info"

    @Option(help: ArgumentHelp("text (for people) or json (one object per line, for log collectors).", valueName: "FORMAT"))
    var logFormat = "text"

    /// Every check of the command line, so that bad usage exits 64 before anything starts.
    func validate() throws {
        _ = try self.makeConfiguration(logger: Logger(label: "relay-gateway"))
        _ = try self.parsedLogLevel()
        _ = try self.parsedLogFormat()
    }

    func run() async throws {
        try self.parsedLogFormat().bootstrap(level: try self.parsedLogLevel())
        let logger = Logger(label: "relay-gateway")
        let configuration = try self.makeConfiguration(logger: logger)

        // Handled before the gateway exists, so a signal right after start-up is not lost.
        let signals = SignalWatcher(signals: [SIGTERM, SIGINT])
        let gateway: RunningGateway
        do {
            gateway = try await Gateway.start(configuration)
        } catch {
            FileHandle.standardError.write(Data("relay-gateway: \(error)\n".utf8))
            throw ExitCode.failure
        }
        // Written straight to the file descriptor: no stdio buffer that could hold it back.
        FileHandle.standardOutput.write(Data("relay-gateway listening on \(gateway.listenAddress)\n".utf8))

        let signal = await signals.next()
        logger.info("stopping", metadata: ["signal": "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")"])
        await gateway.shutdown()
        signals.cancel()
    }

    private func parsedLogLevel() throws -> Logger.Level {
        guard let level = LogFormat.level(parsing: self.logLevel) else {
            throw ValidationError("unknown log level \"\(self.logLevel)\": use trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    private func parsedLogFormat() throws -> LogFormat {
        guard let format = LogFormat(parsing: self.logFormat) else {
            throw ValidationError("unknown log format \"\(self.logFormat)\": use text or json")
        }
        return format
    }

    private func makeConfiguration(logger: Logger) throws -> GatewayConfiguration {
        let address = try Self.usage { () throws(ListenAddressError) in try ListenAddress(parsing: self.listen) }

        let transport: GatewayConfiguration.Transport
        switch (self.tlsCert, self.tlsKey, self.insecureHttp) {
        case (let cert?, let key?, false):
            transport = .tls(certificateChainPath: cert, privateKeyPath: key)
        case (nil, nil, true):
            transport = .insecureHTTP
        case (nil, nil, false):
            throw ValidationError("choose TLS (--tls-cert PEM --tls-key PEM) or --insecure-http")
        case (_, _, true):
            throw ValidationError("--insecure-http cannot be combined with --tls-cert/--tls-key")
        case (_?, nil, false), (nil, _?, false):
            throw ValidationError("--tls-cert and --tls-key go together")
        }

        var entries: [(session: String, token: String)] = []
        for token in self.tokens {
            entries.append(try Self.usage { () throws(TokenTableError) in try TokenTable.parseEntry(token) })
        }
        if let path = self.tokensFile {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("cannot read the tokens file \(path)")
            }
            let fileEntries = try Self.usage { () throws(TokenTableError) in try TokenTable.parseFile(contents: text) }
            entries += fileEntries
        }
        guard !entries.isEmpty else { throw ValidationError("give at least one --token SESSION:TOKEN or a --tokens-file") }
        let tokens = try Self.usage { () throws(TokenTableError) in try TokenTable.merge(entries) }

        let allow = try self.allow.map { pattern in try Self.usage { () throws(HostPatternError) in try HostPattern(pattern) } }
        let deny = try self.deny.map { pattern in try Self.usage { () throws(HostPatternError) in try HostPattern(pattern) } }

        var mapHost: [String: String] = [:]
        for mapping in self.mapHost {
            guard let equals = mapping.firstIndex(of: "="),
                  case let name = mapping[..<equals], !name.isEmpty,
                  case var address = String(mapping[mapping.index(after: equals)...]), !address.isEmpty
            else { throw ValidationError("invalid --map-host \"\(mapping)\": expected NAME=ADDRESS") }
            if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
            mapHost[name.lowercased()] = address
        }

        guard self.dialTimeout.isFinite, self.dialTimeout > 0, self.dialTimeout < 86_400 else {
            throw ValidationError("--dial-timeout must be a number of seconds greater than 0")
        }
        guard self.maxTunnelsPerSession > 0 else {
            throw ValidationError("--max-tunnels-per-session must be at least 1")
        }

        return GatewayConfiguration(
            host: address.host,
            port: address.port,
            tokens: tokens,
            transport: transport,
            caCertificatePath: self.caCert,
            accessPolicy: AccessPolicy(allow: allow, deny: deny),
            mapHost: mapHost,
            dialTimeout: .nanoseconds(Int64(self.dialTimeout * 1e9)),
            maxTunnelsPerSession: self.maxTunnelsPerSession,
            logger: logger
        )
    }

    /// Runs a parser whose typed error becomes a usage error (exit 64) with the error's message.
    private static func usage<Value, Failure: Error & CustomStringConvertible>(
        _ body: () throws(Failure) -> Value
    ) throws(ValidationError) -> Value {
        do {
            return try body()
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// SIGTERM/SIGINT as an async sequence of events. The signals' default action (terminate) is
/// switched off first, so the process lives on to shut down cleanly.
final class SignalWatcher {
    private let sources: [any DispatchSourceSignal]
    private let stream: AsyncStream<Int32>

    init(signals: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        self.sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    /// The next signal received.
    func next() async -> Int32 {
        var iterator = self.stream.makeAsyncIterator()
        return await iterator.next() ?? SIGTERM
    }

    func cancel() {
        for source in self.sources { source.cancel() }
    }
}
