import ArgumentParser
import Foundation
import Logging
import NIOCore
import RelayLogging
import RelayProtocol

/// The options of `relay-gateway` (SPEC §7) as typed, and `resolve()`, which checks them all and
/// turns them into `GatewaySettings`, or says what is wrong. The command's help text lives in
/// `RelayGatewayCommand`; everything the options mean lives here.
public struct GatewayArguments: ParsableArguments {
    @Option(help: ArgumentHelp("Address to listen on; port 0 picks a free port; IPv6 in brackets.", valueName: "ADDR:PORT"))
    public var listen = "127.0.0.1:8443"

    @Option(
        name: .customLong("token"),
        help: ArgumentHelp("An accepted session and its token (repeatable).", valueName: "SESSION:TOKEN")
    )
    public var tokens: [String] = []

    @Option(help: ArgumentHelp("File of SESSION:TOKEN lines; blank lines and # comments are ignored.", valueName: "PATH"))
    public var tokensFile: String?

    @Option(help: ArgumentHelp("TLS certificate chain (PEM); needs --tls-key.", valueName: "PEM"))
    public var tlsCert: String?

    @Option(help: ArgumentHelp("TLS private key (PEM); needs --tls-cert.", valueName: "PEM"))
    public var tlsKey: String?

    @Flag(help: "Serve plain HTTP and ws:// instead of TLS (tests, or behind a TLS-terminating proxy).")
    public var insecureHttp = false

    @Option(help: ArgumentHelp("CA certificate (PEM) served at /v1/code/upstreamproxy/ca-cert.", valueName: "PEM"))
    public var caCert: String?

    @Option(help: ArgumentHelp("Allow only targets matching one of these patterns (repeatable).", valueName: "HOST:PORT-PATTERN"))
    public var allow: [String] = []

    @Option(help: ArgumentHelp("Refuse targets matching this pattern with 403 (repeatable).", valueName: "HOST:PORT-PATTERN"))
    public var deny: [String] = []

    @Option(help: ArgumentHelp("Dial ADDRESS whenever a tunnel asks for NAME (repeatable).", valueName: "NAME=ADDRESS"))
    public var mapHost: [String] = []

    @Option(help: ArgumentHelp("Bound on resolving and connecting to a target; then 504.", valueName: "SECONDS"))
    public var dialTimeout: Double = 10

    @Option(help: ArgumentHelp("Open tunnels allowed per session; more are refused with 429.", valueName: "N"))
    public var maxTunnelsPerSession = GatewayConfiguration.defaultMaxTunnelsPerSession

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "LEVEL"))
    public var logLevel = "info"

    @Option(help: ArgumentHelp("text (for people) or json (one object per line, for log collectors).", valueName: "FORMAT"))
    public var logFormat = "text"

    public init() {}

    /// Every check of the command line, in the order the user reads the messages: the
    /// gateway's own options, then the log level, then the log format. Reads the tokens file.
    public func resolve() throws(GatewayUsageError) -> GatewaySettings {
        let configuration = try self.makeConfiguration()
        guard let level = LogFormat.level(parsing: self.logLevel) else {
            throw GatewayUsageError("unknown log level \"\(self.logLevel)\": use trace, debug, info, notice, warning, error or critical")
        }
        guard let format = LogFormat(parsing: self.logFormat) else {
            throw GatewayUsageError("unknown log format \"\(self.logFormat)\": use text or json")
        }
        return GatewaySettings(configuration: configuration, logLevel: level, logFormat: format)
    }

    private func makeConfiguration() throws(GatewayUsageError) -> GatewayConfiguration {
        let address = try Self.usage { () throws(ListenAddressError) in try ListenAddress(parsing: self.listen) }

        let transport: GatewayConfiguration.Transport
        switch (self.tlsCert, self.tlsKey, self.insecureHttp) {
        case (let cert?, let key?, false):
            transport = .tls(certificateChainPath: cert, privateKeyPath: key)
        case (nil, nil, true):
            transport = .insecureHTTP
        case (nil, nil, false):
            throw GatewayUsageError("choose TLS (--tls-cert PEM --tls-key PEM) or --insecure-http")
        case (_, _, true):
            throw GatewayUsageError("--insecure-http cannot be combined with --tls-cert/--tls-key")
        case (_?, nil, false), (nil, _?, false):
            throw GatewayUsageError("--tls-cert and --tls-key go together")
        }

        var entries: [(session: String, token: String)] = []
        for token in self.tokens {
            entries.append(try Self.usage { () throws(TokenTableError) in try TokenTable.parseEntry(token) })
        }
        if let path = self.tokensFile {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw GatewayUsageError("cannot read the tokens file \(path)")
            }
            entries += try Self.usage { () throws(TokenTableError) in try TokenTable.parseFile(contents: text) }
        }
        guard !entries.isEmpty else { throw GatewayUsageError("give at least one --token SESSION:TOKEN or a --tokens-file") }
        let tokens = try Self.usage { () throws(TokenTableError) in try TokenTable.merge(entries) }

        var allow: [HostPattern] = []
        for pattern in self.allow {
            allow.append(try Self.usage { () throws(HostPatternError) in try HostPattern(pattern) })
        }
        var deny: [HostPattern] = []
        for pattern in self.deny {
            deny.append(try Self.usage { () throws(HostPatternError) in try HostPattern(pattern) })
        }

        var mapHost: [String: String] = [:]
        for mapping in self.mapHost {
            guard let equals = mapping.firstIndex(of: "="),
                  case let name = mapping[..<equals], !name.isEmpty,
                  case var address = String(mapping[mapping.index(after: equals)...]), !address.isEmpty
            else { throw GatewayUsageError("invalid --map-host \"\(mapping)\": expected NAME=ADDRESS") }
            if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
            mapHost[name.lowercased()] = address
        }

        guard self.dialTimeout.isFinite, self.dialTimeout > 0, self.dialTimeout < 86_400 else {
            throw GatewayUsageError("--dial-timeout must be a number of seconds greater than 0")
        }
        guard self.maxTunnelsPerSession > 0 else {
            throw GatewayUsageError("--max-tunnels-per-session must be at least 1")
        }

        return GatewayConfiguration(
            listen: address,
            tokens: tokens,
            transport: transport,
            caCertificatePath: self.caCert,
            accessPolicy: AccessPolicy(allow: allow, deny: deny),
            mapHost: mapHost,
            dialTimeout: .nanoseconds(Int64(self.dialTimeout * 1e9)),
            maxTunnelsPerSession: self.maxTunnelsPerSession
        )
    }

    /// Runs a parser whose typed error becomes a usage error with the error's message.
    private static func usage<Value, Failure: Error & CustomStringConvertible>(
        _ body: () throws(Failure) -> Value
    ) throws(GatewayUsageError) -> Value {
        do {
            return try body()
        } catch {
            throw GatewayUsageError(error.description)
        }
    }
}

/// A command line `relay-gateway` cannot run with: the message says what is wrong (exit 64).
public struct GatewayUsageError: Error, CustomStringConvertible, Equatable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
