import Foundation
import RelayProtocol
import Orchestrator
import TestSupport
import Testing

@Suite struct SettingsTests {
    func resolve(_ arguments: [String], _ environment: [String: String] = [:], existing: Set<String> = []) throws -> Settings {
        try Settings.resolve(try Options.parse(arguments), environment: environment, fileExists: { existing.contains($0) })
    }

    @Test func defaultsWhenNothingIsGiven() throws {
        let settings = try resolve([], existing: ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"])
        #expect(settings.gateway == nil)
        #expect(settings.webSocketURL == nil)
        #expect(settings.caURL == nil)
        #expect(settings.sessionID == nil)
        #expect(settings.tokenFile == "/run/relay-init/session_token")
        #expect(settings.tokenURL == nil)
        #expect(settings.listen == ListenAddress(host: "127.0.0.1", port: 0))
        #expect(settings.envFile == "/run/relay-init/proxy.env")
        #expect(settings.caBundle == "/run/relay-init/ca-bundle.crt")
        // The first default that exists.
        #expect(settings.systemCA == "/etc/pki/tls/certs/ca-bundle.crt")
        #expect(settings.installSystemTrust == false)
        #expect(settings.noProxy == [])
        #expect(settings.failClosed == false)
        #expect(settings.keepalive == 30)
        #expect(settings.handshakeTimeout == 10)
        #expect(settings.logLevel == .info)
        #expect(settings.logFormat == .text)
        #expect(settings.command == [])
        #expect(settings.isSidecar)
    }

    @Test func noSystemBundleAtAll() throws {
        #expect(try resolve([]).systemCA == nil)
    }

    /// (flag, variable, flag value, variable value, how to read the result)
    static let valueOptions: [(String, String, String, String, @Sendable (Settings) -> String?)] = [
        ("--gateway", "RELAY_INIT_GATEWAY", "https://flag.example", "https://env.example", { $0.gateway?.string }),
        ("--ws-url", "RELAY_INIT_WS_URL", "wss://flag.example/ws", "wss://env.example/ws", { $0.webSocketURL?.description }),
        ("--ca-url", "RELAY_INIT_CA_URL", "https://flag.example/ca", "https://env.example/ca", { $0.caURL?.string }),
        ("--session-id", "RELAY_INIT_SESSION_ID", "flag-session", "env-session", { $0.sessionID }),
        ("--token-file", "RELAY_INIT_TOKEN_FILE", "/flag/token", "/env/token", { $0.tokenFile }),
        ("--token-url", "RELAY_INIT_TOKEN_URL", "http://flag.example/t", "http://env.example/t", { $0.tokenURL?.string }),
        ("--listen", "RELAY_INIT_LISTEN", "127.0.0.1:1111", "127.0.0.1:2222", { $0.listen.description }),
        ("--env-file", "RELAY_INIT_ENV_FILE", "/flag/env", "/env/env", { $0.envFile }),
        ("--ca-bundle", "RELAY_INIT_CA_BUNDLE", "/flag/bundle", "/env/bundle", { $0.caBundle }),
        ("--system-ca", "RELAY_INIT_SYSTEM_CA", "/flag/system", "/env/system", { $0.systemCA }),
        ("--no-proxy", "RELAY_INIT_NO_PROXY", "flag.example", "env.example", { $0.noProxy.joined(separator: ",") }),
        ("--keepalive", "RELAY_INIT_KEEPALIVE", "1.5", "2.5", { String($0.keepalive) }),
        ("--handshake-timeout", "RELAY_INIT_HANDSHAKE_TIMEOUT", "3", "4", { String($0.handshakeTimeout) }),
        ("--log-level", "RELAY_INIT_LOG_LEVEL", "debug", "error", { $0.logLevel.rawValue }),
        ("--log-format", "RELAY_INIT_LOG_FORMAT", "text", "json", { $0.logFormat.rawValue }),
    ]

    @Test(arguments: 0..<Self.valueOptions.count)
    func flagWinsOverVariableWhichWinsOverDefault(index: Int) throws {
        let (flag, variable, flagValue, variableValue, read) = Self.valueOptions[index]
        let normalise: (String) -> String = { value in
            switch flag {
            case "--keepalive", "--handshake-timeout": return String(Double(value)!)
            default: return value
            }
        }
        let both = try resolve([flag, flagValue], [variable: variableValue])
        #expect(read(both) == normalise(flagValue), "\(flag) given: the flag wins")
        let variableOnly = try resolve([], [variable: variableValue])
        #expect(read(variableOnly) == normalise(variableValue), "only \(variable): the variable wins")
        let defaulted = try resolve([], [:])
        #expect(read(defaulted) != normalise(variableValue), "neither: the default")
        // An empty variable counts as unset.
        #expect(read(try resolve([], [variable: ""])) == read(defaulted))
    }

    @Test(arguments: ["1", "true", "TRUE", "Yes", "on", "ON"])
    func switchVariablesTurnOn(value: String) throws {
        let settings = try resolve([], ["RELAY_INIT_FAIL_CLOSED": value, "RELAY_INIT_INSTALL_SYSTEM_TRUST": value])
        #expect(settings.failClosed)
        #expect(settings.installSystemTrust)
    }

    @Test(arguments: ["0", "false", "False", "NO", "off", "Off", ""])
    func switchVariablesTurnOff(value: String) throws {
        let settings = try resolve([], ["RELAY_INIT_FAIL_CLOSED": value, "RELAY_INIT_INSTALL_SYSTEM_TRUST": value])
        #expect(!settings.failClosed)
        #expect(!settings.installSystemTrust)
    }

    @Test func switchFlagsWinOverFalseVariables() throws {
        let settings = try resolve(["--fail-closed", "--install-system-trust"], ["RELAY_INIT_FAIL_CLOSED": "0", "RELAY_INIT_INSTALL_SYSTEM_TRUST": "off"])
        #expect(settings.failClosed)
        #expect(settings.installSystemTrust)
    }

    @Test(arguments: [
        ("https://gw.example", "https://gw.example/v1/code/upstreamproxy/ca-cert", "wss://gw.example/v1/code/upstreamproxy/ws"),
        ("https://gw.example/", "https://gw.example/v1/code/upstreamproxy/ca-cert", "wss://gw.example/v1/code/upstreamproxy/ws"),
        ("https://gw.example/prefix/", "https://gw.example/prefix/v1/code/upstreamproxy/ca-cert", "wss://gw.example/prefix/v1/code/upstreamproxy/ws"),
        ("https://gw.example/prefix", "https://gw.example/prefix/v1/code/upstreamproxy/ca-cert", "wss://gw.example/prefix/v1/code/upstreamproxy/ws"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/code/upstreamproxy/ca-cert", "ws://127.0.0.1:8080/v1/code/upstreamproxy/ws"),
        ("HTTPS://[::1]:8443/p//", "https://[::1]:8443/p/v1/code/upstreamproxy/ca-cert", "wss://[::1]:8443/p/v1/code/upstreamproxy/ws"),
    ])
    func defaultEndpointsJoinTheGatewayPathWithOneSlash(gateway: String, caURL: String, webSocketURL: String) throws {
        let settings = try resolve(["--gateway", gateway])
        #expect(settings.caURL?.string == caURL)
        #expect(settings.webSocketURL?.description == webSocketURL)
    }

    @Test func explicitEndpointsAreNotDerived() throws {
        let settings = try resolve(["--gateway", "https://gw.example", "--ws-url", "ws://other:81/x", "--ca-url", "http://ca.example/c"])
        #expect(settings.webSocketURL?.description == "ws://other:81/x")
        #expect(settings.caURL?.string == "http://ca.example/c")
    }

    @Test(arguments: [
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("0.0.0.0:3128", "0.0.0.0", 3128),
        ("[::1]:0", "::1", 0),
        ("[::]:65535", "::", 65535),
        ("localhost:8080", "localhost", 8080),
    ])
    func listenAddresses(text: String, host: String, port: Int) throws {
        #expect(try resolve(["--listen", text]).listen == ListenAddress(host: host, port: port))
    }

    @Test func valuesAreParsed() throws {
        let settings = try resolve(
            ["--no-proxy", " a.example ,,b.example,", "--keepalive", "0", "--handshake-timeout", "0.25", "--log-level", "CRITICAL", "--", "npm", "--listen", "x"]
        )
        #expect(settings.noProxy == ["a.example", "b.example"])
        #expect(settings.keepaliveInterval == nil)
        #expect(settings.handshakeTimeoutAmount == .milliseconds(250))
        #expect(settings.logLevel == .critical)
        // Everything after `--` belongs to the command, even what looks like our flags.
        #expect(settings.command == ["npm", "--listen", "x"])
        #expect(try resolve(["--keepalive", "0.5"]).keepaliveInterval == .milliseconds(500))
    }

    /// Bad usage, each with the text the message must contain (the option, so the user knows what to fix).
    static let badUsage: [([String], [String: String], String)] = [
        (["--keepalive=-1"], [:], "--keepalive"),
        (["--keepalive", "abc"], [:], "--keepalive"),
        (["--keepalive", "1e3"], [:], "--keepalive"),
        (["--keepalive", ".5"], [:], "--keepalive"),
        (["--keepalive", "1."], [:], "--keepalive"),
        (["--keepalive", "inf"], [:], "--keepalive"),
        (["--keepalive", "99999999999"], [:], "too large"),
        (["--handshake-timeout", "0"], [:], "--handshake-timeout"),
        (["--handshake-timeout", "0.0"], [:], "--handshake-timeout"),
        (["--log-level", "verbose"], [:], "--log-level"),
        (["--log-format", "xml"], [:], "--log-format"),
        (["--listen", "::1:0"], [:], "--listen"),
        (["--listen", "127.0.0.1"], [:], "--listen"),
        (["--listen", "127.0.0.1:65536"], [:], "--listen"),
        (["--listen", "[::1]"], [:], "--listen"),
        (["--listen", ":8080"], [:], "--listen"),
        (["--listen", "[127.0.0.1]:80"], [:], "--listen"),
        (["--gateway", "ftp://gw.example"], [:], "--gateway"),
        (["--gateway", "gw.example"], [:], "--gateway"),
        (["--gateway", "https://"], [:], "--gateway"),
        (["--gateway", "https://gw example"], [:], "--gateway"),
        (["--gateway", "https://::1/"], [:], "--gateway"),
        (["--gateway", "https://gw.example:0"], [:], "--gateway"),
        (["--gateway", "https://gw.example?x=1"], [:], "--gateway"),
        (["--gateway", "https://user:pw@gw.example"], [:], "--gateway"),
        (["--ws-url", "https://gw.example/ws"], [:], "--ws-url"),
        (["--ca-url", "wss://gw.example/ca"], [:], "--ca-url"),
        (["--token-url", "file:///etc/passwd"], [:], "--token-url"),
        (["--env-file", ""], [:], "--env-file"),
        ([], ["RELAY_INIT_KEEPALIVE": "-1"], "RELAY_INIT_KEEPALIVE"),
        ([], ["RELAY_INIT_LISTEN": "nowhere"], "RELAY_INIT_LISTEN"),
        ([], ["RELAY_INIT_LOG_LEVEL": "loud"], "RELAY_INIT_LOG_LEVEL"),
        ([], ["RELAY_INIT_LOG_FORMAT": "logfmt"], "RELAY_INIT_LOG_FORMAT"),
        ([], ["RELAY_INIT_GATEWAY": "gw.example"], "RELAY_INIT_GATEWAY"),
        ([], ["RELAY_INIT_FAIL_CLOSED": "maybe"], "RELAY_INIT_FAIL_CLOSED"),
        ([], ["RELAY_INIT_INSTALL_SYSTEM_TRUST": "2"], "RELAY_INIT_INSTALL_SYSTEM_TRUST"),
    ]

    @Test(arguments: 0..<Self.badUsage.count)
    func badUsageSaysWhatToFix(index: Int) throws {
        let (arguments, environment, mention) = Self.badUsage[index]
        let error = #expect(throws: UsageError.self) { try resolve(arguments, environment) }
        #expect(error?.message.contains(mention) == true, "\(error?.message ?? "")")
    }

    @Test func missingGatewaySessionAndTokenAreNotUsageErrors() throws {
        // They are setup failures (fail-open runs the command anyway), so resolving succeeds.
        let settings = try resolve(["--", "true"])
        #expect(settings.gateway == nil)
        #expect(settings.sessionID == nil)
    }

    /// The message names the option, the value and what is wrong with it.
    @Test(arguments: [
        (["--gateway", "https://gw.example:0"], "--gateway 'https://gw.example:0' is not an http:// or https:// URL (e.g. https://gw.example; IPv6 hosts in brackets): the port 0 is outside 1-65535"),
        (["--token-url", "ftp://t.example"], "--token-url 'ftp://t.example' is not an http:// or https:// URL (e.g. https://gw.example; IPv6 hosts in brackets): the scheme \"ftp\" is not one this option takes"),
        (["--ws-url", "wss://::1/ws"], "--ws-url 'wss://::1/ws' is not a ws:// or wss:// URL (e.g. wss://gw.example/v1/code/upstreamproxy/ws; IPv6 hosts in brackets): more than one \":\": write IPv6 addresses in brackets, e.g. [::1]:8443"),
        (["--ws-url", "wss://u:p@gw.example/ws"], "--ws-url must not carry credentials (wss://***@gw.example/ws): the token goes in the Authorization header"),
    ])
    func urlUsageErrorsSayWhatIsWrong(arguments: [String], message: String) throws {
        let error = #expect(throws: UsageError.self) { try resolve(arguments) }
        #expect(error?.message == message)
    }

    @Test func urlsKeepCredentialsForCurlButNotForMessages() throws {
        let url = try #require(try resolve(["--token-url", "https://user:secret@tokens.example:8443/t?x=1#frag"]).tokenURL)
        #expect(url.string == "https://user:secret@tokens.example:8443/t?x=1")
        #expect(url.description == "https://***@tokens.example:8443/t?x=1")
        #expect(url.host == "tokens.example")
    }
}

/// The same rules through the real binary: exit 64, the message on stderr.
@Suite struct CommandLineTests {
    @Test(arguments: [
        (["--keepalive", "abc"], [String: String](), "--keepalive"),
        (["--listen", "::1:0"], [:], "--listen"),
        (["--no-such-flag"], [:], "no-such-flag"),
        (["npm", "install"], [:], "npm"),
        ([], ["RELAY_INIT_FAIL_CLOSED": "perhaps"], "RELAY_INIT_FAIL_CLOSED"),
        ([], ["RELAY_INIT_LOG_LEVEL": "chatty"], "RELAY_INIT_LOG_LEVEL"),
        (["--log-format", "yaml"], [:], "--log-format"),
        (["--", "true"], ["RELAY_INIT_HANDSHAKE_TIMEOUT": "0"], "RELAY_INIT_HANDSHAKE_TIMEOUT"),
    ])
    func badUsageExits64(arguments: [String], environment: [String: String], mention: String) async throws {
        let result = try await RelayInitBinary.run(arguments, environment: environment)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(mention), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func versionIs010() async throws {
        let result = try await RelayInitBinary.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    @Test func helpDocumentsEveryFlagAndVariable() async throws {
        let result = try await RelayInitBinary.run(["--help"])
        #expect(result.status == 0)
        let help = result.stdout
        let flags = [
            "--gateway", "--ws-url", "--ca-url", "--session-id", "--token-file", "--token-url", "--listen",
            "--env-file", "--ca-bundle", "--system-ca", "--install-system-trust", "--no-proxy", "--fail-closed",
            "--keepalive", "--handshake-timeout", "--log-level", "--log-format", "--version", "--help",
        ]
        for flag in flags {
            #expect(help.contains(flag), "help lacks \(flag)")
            if flag != "--version" && flag != "--help" {
                let variable = "RELAY_INIT_" + flag.dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_")
                #expect(help.contains(variable), "help lacks \(variable)")
            }
        }
        #expect(help.contains("RELAY_INIT_TOKEN"))
        // The three usages.
        #expect(help.contains("-- npm install"))
        #expect(help.contains("ENTRYPOINT"))
        #expect(help.contains("sidecar"))
    }
}
