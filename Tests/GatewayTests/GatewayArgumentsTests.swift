import ArgumentParser
import Gateway
import NIOCore
import RelayProtocol
import Testing

/// `relay-gateway`'s command line turned into settings, without a process: what each option
/// becomes, and the message for each kind of bad usage. (`RelayGatewayCommandTests` checks the
/// same through the executable: exit 64, the listening line, signals.)
@Suite struct GatewayArgumentsTests {
    private func resolve(_ arguments: [String]) throws -> GatewaySettings {
        try GatewayArguments.parse(arguments).resolve()
    }

    private func usageError(_ arguments: [String]) throws -> String? {
        let parsed = try GatewayArguments.parse(arguments)
        return #expect(throws: GatewayUsageError.self) { try parsed.resolve() }?.description
    }

    @Test func defaults() throws {
        let settings = try self.resolve(["--token", "s1:secret", "--insecure-http"])
        let configuration = settings.configuration(logger: GatewayConfiguration.testLogger)
        #expect(configuration.listen == ListenAddress(host: "127.0.0.1", port: 8443))
        #expect(configuration.tokens == ["s1": "secret"])
        #expect(configuration.transport == .insecureHTTP)
        #expect(configuration.caCertificatePath == nil)
        #expect(configuration.dialTimeout == .seconds(10))
        #expect(configuration.maxTunnelsPerSession == GatewayConfiguration.defaultMaxTunnelsPerSession)
        #expect(settings.logLevel == .info)
        #expect(settings.logFormat == .text)
    }

    @Test func everyOptionReachesTheConfiguration() throws {
        let settings = try self.resolve([
            "--listen", "[::1]:0", "--token", "s1:a", "--token", "s2:b", "--tls-cert", "c.pem", "--tls-key", "k.pem",
            "--ca-cert", "ca.pem", "--allow", "*.example.com:443", "--deny", "*:25", "--map-host", "Echo.Test=[::1]",
            "--dial-timeout", "2.5", "--max-tunnels-per-session", "3", "--log-level", "debug", "--log-format", "json",
        ])
        let configuration = settings.configuration(logger: GatewayConfiguration.testLogger)
        #expect(configuration.listen == ListenAddress(host: "::1", port: 0))
        #expect(configuration.tokens == ["s1": "a", "s2": "b"])
        #expect(configuration.transport == .tls(certificateChainPath: "c.pem", privateKeyPath: "k.pem"))
        #expect(configuration.caCertificatePath == "ca.pem")
        #expect(configuration.accessPolicy.allow.map(\.description) == ["*.example.com:443"])
        #expect(configuration.accessPolicy.deny.map(\.description) == ["*:25"])
        #expect(configuration.mapHost == ["echo.test": "::1"], "names lowercased, brackets dropped")
        #expect(configuration.dialTimeout == .milliseconds(2500))
        #expect(configuration.maxTunnelsPerSession == 3)
        #expect(settings.logLevel == .debug)
        #expect(settings.logFormat == .json)
    }

    @Test(arguments: [
        (["--insecure-http"], "give at least one --token SESSION:TOKEN or a --tokens-file"),
        (["--token", "s:t"], "choose TLS (--tls-cert PEM --tls-key PEM) or --insecure-http"),
        (["--token", "s:t", "--insecure-http", "--tls-cert", "c.pem", "--tls-key", "k.pem"], "--insecure-http cannot be combined with --tls-cert/--tls-key"),
        (["--token", "s:t", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--token", "s:t", "--insecure-http", "--map-host", "nothing"], "invalid --map-host \"nothing\": expected NAME=ADDRESS"),
        (["--token", "s:t", "--insecure-http", "--dial-timeout", "0"], "--dial-timeout must be a number of seconds greater than 0"),
        (["--token", "s:t", "--insecure-http", "--max-tunnels-per-session", "0"], "--max-tunnels-per-session must be at least 1"),
        (["--token", "s:t", "--insecure-http", "--log-level", "chatty"], "unknown log level \"chatty\": use trace, debug, info, notice, warning, error or critical"),
        (["--token", "s:t", "--insecure-http", "--log-format", "xml"], "unknown log format \"xml\": use text or json"),
        (["--tokens-file", "/nonexistent/tokens", "--insecure-http"], "cannot read the tokens file /nonexistent/tokens"),
    ])
    func badUsageSaysWhatIsWrong(arguments: [String], message: String) throws {
        #expect(try self.usageError(arguments) == message)
    }

    /// The parsers' own messages pass through: listen address, token, pattern.
    @Test(arguments: [
        ["--token", "s:t", "--insecure-http", "--listen", "::1:0"],
        ["--token", "no-colon", "--insecure-http"],
        ["--token", "s:t", "--token", "s:u", "--insecure-http"],
        ["--token", "s:t", "--insecure-http", "--allow", "example.com"],
        ["--token", "s:t", "--insecure-http", "--deny", "*:x"],
    ])
    func parserErrorsAreUsageErrors(arguments: [String]) throws {
        let message = try #require(try self.usageError(arguments))
        #expect(!message.isEmpty)
    }

    /// `ServiceGroup` logs its services' descriptions at debug: the tokens must not be in them.
    @Test func theServiceDescribesItselfWithoutTheTokens() throws {
        let settings = try self.resolve(["--token", "s1:very-secret", "--insecure-http"])
        let service = GatewayService(configuration: settings.configuration(logger: GatewayConfiguration.testLogger))
        #expect(!String(describing: service).contains("very-secret"))
        #expect(!String(reflecting: service).contains("very-secret"))
    }
}
