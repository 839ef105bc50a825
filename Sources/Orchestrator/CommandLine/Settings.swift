import RelayProtocol
import Logging
import RelayLogging
import NIOCore
import Relay

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A bad flag or environment value. relay-init prints it and exits 64.
public struct UsageError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// Everything relay-init was asked to do: flags, then `RELAY_INIT_*` variables, then defaults.
///
/// A missing gateway or session id is not a usage error but a setup failure (SPEC §3):
/// with fail-open the command must still run. So they stay optional here.
public struct Settings: Sendable, Equatable {
    public var gateway: EndpointURL?
    /// Defaults to the gateway's; nil only when there is no gateway.
    public var webSocketURL: WebSocketURL?
    /// Defaults to the gateway's; nil only when there is no gateway.
    public var caURL: EndpointURL?
    public var sessionID: String?
    public var tokenFile: String
    public var tokenURL: EndpointURL?
    public var listen: ListenAddress
    public var envFile: String
    public var caBundle: String
    /// The system bundle to merge in; nil when none was given and none of the defaults exists.
    public var systemCA: String?
    public var installSystemTrust: Bool
    /// `--no-proxy` entries, split on commas, blanks dropped.
    public var noProxy: [String]
    public var failClosed: Bool
    /// Seconds; 0 turns keepalives off.
    public var keepalive: Double
    /// Seconds, > 0.
    public var handshakeTimeout: Double
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// Empty in sidecar mode.
    public var command: [String]

    public var isSidecar: Bool { self.command.isEmpty }

    public enum Defaults {
        public static let tokenFile = "/run/relay-init/session_token"
        public static let listen = ListenAddress.loopbackAnyPort
        public static let envFile = "/run/relay-init/proxy.env"
        public static let caBundle = "/run/relay-init/ca-bundle.crt"
        public static let systemCACandidates = [
            "/etc/ssl/certs/ca-certificates.crt",  // Debian, Ubuntu, Alpine
            "/etc/pki/tls/certs/ca-bundle.crt",  // RHEL, Fedora
            "/etc/ssl/cert.pem",  // others (and macOS)
        ]
        public static let keepalive = 30.0
        public static let handshakeTimeout = 10.0
        public static let logLevel = Logger.Level.info
        public static let logFormat = LogFormat.text
        public static let webSocketPath = "v1/code/upstreamproxy/ws"
        public static let caCertPath = "v1/code/upstreamproxy/ca-cert"
    }

    /// Applies flag > variable > default to `options`. Pure apart from `fileExists`, which
    /// picks the default system bundle; throws `UsageError` for any malformed value.
    public static func resolve(
        _ options: Options,
        environment: [String: String],
        fileExists: (String) -> Bool = { access($0, F_OK) == 0 }
    ) throws(UsageError) -> Settings {
        let lookup = Lookup(environment: environment)

        let gatewayValue = lookup.value(options.gateway, flag: "--gateway", variable: "RELAY_INIT_GATEWAY")
        let gateway = try gatewayValue.map { value throws(UsageError) in
            let url = try lookup.url(value, schemes: [.http, .https])
            guard url.query == nil else {
                throw UsageError("\(value.origin) must not have a query (\(url)): give the base URL, e.g. https://gw.example/prefix")
            }
            guard url.userInfo == nil else {
                throw UsageError("\(value.origin) must not carry credentials (\(url)): the token comes from RELAY_INIT_TOKEN, --token-url or --token-file")
            }
            return url
        }

        let webSocketURL: WebSocketURL?
        if let value = lookup.value(options.webSocketURL, flag: "--ws-url", variable: "RELAY_INIT_WS_URL") {
            let url = try lookup.url(value, schemes: [.ws, .wss], example: "wss://gw.example/v1/code/upstreamproxy/ws")
            guard let webSocket = WebSocketURL(url) else {
                throw UsageError("\(value.origin) must not carry credentials (\(url)): the token goes in the Authorization header")
            }
            webSocketURL = webSocket
        } else {
            webSocketURL = gateway.map { WebSocketURL(webSocketEquivalentOf: $0.appendingPath(Defaults.webSocketPath)) }
        }

        let caURL = try lookup.value(options.caURL, flag: "--ca-url", variable: "RELAY_INIT_CA_URL")
            .map { value throws(UsageError) in try lookup.url(value, schemes: [.http, .https]) }
            ?? gateway?.appendingPath(Defaults.caCertPath)

        let tokenURL = try lookup.value(options.tokenURL, flag: "--token-url", variable: "RELAY_INIT_TOKEN_URL")
            .map { value throws(UsageError) in try lookup.url(value, schemes: [.http, .https]) }

        let sessionID = lookup.value(options.sessionID, flag: "--session-id", variable: "RELAY_INIT_SESSION_ID")?.text

        let listen: ListenAddress
        if let value = lookup.value(options.listen, flag: "--listen", variable: "RELAY_INIT_LISTEN") {
            guard let address = try? ListenAddress(parsing: value.text) else {
                throw UsageError("\(value.origin) '\(value.text)' is not ADDR:PORT with a port 0-65535 (e.g. 127.0.0.1:0; IPv6 in brackets: [::1]:0)")
            }
            listen = address
        } else {
            listen = Defaults.listen
        }

        let tokenFile = try lookup.path(options.tokenFile, flag: "--token-file", variable: "RELAY_INIT_TOKEN_FILE") ?? Defaults.tokenFile
        let envFile = try lookup.path(options.envFile, flag: "--env-file", variable: "RELAY_INIT_ENV_FILE") ?? Defaults.envFile
        let caBundle = try lookup.path(options.caBundle, flag: "--ca-bundle", variable: "RELAY_INIT_CA_BUNDLE") ?? Defaults.caBundle
        let systemCA = try lookup.path(options.systemCA, flag: "--system-ca", variable: "RELAY_INIT_SYSTEM_CA")
            ?? Defaults.systemCACandidates.first(where: fileExists)

        let noProxy = (lookup.value(options.noProxy, flag: "--no-proxy", variable: "RELAY_INIT_NO_PROXY")?.text ?? "")
            .split(separator: ",")
            .map { String($0.trimmingWhitespace()) }
            .filter { !$0.isEmpty }

        let keepalive = try lookup.seconds(options.keepalive, flag: "--keepalive", variable: "RELAY_INIT_KEEPALIVE", allowZero: true)
            ?? Defaults.keepalive
        let handshakeTimeout = try lookup.seconds(options.handshakeTimeout, flag: "--handshake-timeout", variable: "RELAY_INIT_HANDSHAKE_TIMEOUT", allowZero: false)
            ?? Defaults.handshakeTimeout

        let logLevel: Logger.Level
        if let value = lookup.value(options.logLevel, flag: "--log-level", variable: "RELAY_INIT_LOG_LEVEL") {
            guard let level = LogFormat.level(parsing: value.text) else {
                throw UsageError("\(value.origin) '\(value.text)' is not a log level: use trace, debug, info, notice, warning, error or critical")
            }
            logLevel = level
        } else {
            logLevel = Defaults.logLevel
        }
        let logFormat: LogFormat
        if let value = lookup.value(options.logFormat, flag: "--log-format", variable: "RELAY_INIT_LOG_FORMAT") {
            guard let format = LogFormat(parsing: value.text) else {
                throw UsageError("\(value.origin) '\(value.text)' is not a log format: use text or json")
            }
            logFormat = format
        } else {
            logFormat = Defaults.logFormat
        }

        return Settings(
            gateway: gateway,
            webSocketURL: webSocketURL,
            caURL: caURL,
            sessionID: sessionID,
            tokenFile: tokenFile,
            tokenURL: tokenURL,
            listen: listen,
            envFile: envFile,
            caBundle: caBundle,
            systemCA: systemCA,
            installSystemTrust: try lookup.switchValue(options.installSystemTrust, variable: "RELAY_INIT_INSTALL_SYSTEM_TRUST"),
            noProxy: noProxy,
            failClosed: try lookup.switchValue(options.failClosed, variable: "RELAY_INIT_FAIL_CLOSED"),
            keepalive: keepalive,
            handshakeTimeout: handshakeTimeout,
            logLevel: logLevel,
            logFormat: logFormat,
            command: options.command
        )
    }

    /// `--keepalive` as the relay wants it: nil when off.
    public var keepaliveInterval: TimeAmount? {
        self.keepalive == 0 ? nil : .nanoseconds(Int64((self.keepalive * 1e9).rounded()))
    }

    public var handshakeTimeoutAmount: TimeAmount {
        .nanoseconds(Int64((self.handshakeTimeout * 1e9).rounded()))
    }
}

/// One option's value with where it came from, so a message can say what to fix.
struct GivenValue {
    var text: String
    /// `--keepalive` or `RELAY_INIT_KEEPALIVE`.
    var origin: String
}

/// Flag > variable lookups with the value checks shared by several options.
private struct Lookup {
    var environment: [String: String]

    /// The flag's value if given, else the variable's if set and not empty.
    /// (An empty variable counts as unset: `VAR=` in a Dockerfile is how one clears it.)
    func value(_ flagValue: String?, flag: String, variable: String) -> GivenValue? {
        if let flagValue { return GivenValue(text: flagValue, origin: flag) }
        if let value = self.environment[variable], !value.isEmpty { return GivenValue(text: value, origin: variable) }
        return nil
    }

    /// A URL of one of `schemes`; the message says what is wrong with it.
    func url(_ value: GivenValue, schemes: Set<EndpointURL.Scheme>, example: String = "https://gw.example") throws(UsageError) -> EndpointURL {
        do throws(EndpointURLError) {
            return try EndpointURL(parsing: value.text, schemes: schemes)
        } catch {
            let expected = schemes.sorted().map { "\($0.rawValue)://" }.joined(separator: " or ")
            let article = expected.hasPrefix("h") ? "an" : "a"
            throw UsageError("\(value.origin) '\(value.text)' is not \(article) \(expected) URL (e.g. \(example); IPv6 hosts in brackets): \(error)")
        }
    }

    func path(_ flagValue: String?, flag: String, variable: String) throws(UsageError) -> String? {
        guard let value = self.value(flagValue, flag: flag, variable: variable) else { return nil }
        guard !value.text.isEmpty else { throw UsageError("\(value.origin) must not be empty: give a file path") }
        return value.text
    }

    /// A decimal number of seconds: digits with an optional fraction (`30`, `0.5`).
    func seconds(_ flagValue: String?, flag: String, variable: String, allowZero: Bool) throws(UsageError) -> Double? {
        guard let value = self.value(flagValue, flag: flag, variable: variable) else { return nil }
        let bound = allowZero ? "0 or more" : "more than 0"
        let parts = value.text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count),
            parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let seconds = Double(value.text)
        else {
            throw UsageError("\(value.origin) '\(value.text)' is not a number of seconds: use a decimal number \(bound), e.g. 30 or 0.5")
        }
        // A year is far beyond any sensible keepalive or timeout, and keeps the nanosecond count in range.
        guard seconds <= 365 * 24 * 3600 else {
            throw UsageError("\(value.origin) '\(value.text)' is too large: use at most 31536000 seconds")
        }
        guard allowZero || seconds > 0 else {
            throw UsageError("\(value.origin) must be more than 0 seconds, got '\(value.text)'")
        }
        return seconds
    }

    /// A switch: the flag turns it on; otherwise the variable, read as 1/true/yes/on or 0/false/no/off/empty.
    func switchValue(_ flag: Bool, variable: String) throws(UsageError) -> Bool {
        if flag { return true }
        guard let raw = self.environment[variable] else { return false }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off", "": return false
        default:
            throw UsageError("\(variable)='\(raw)' is not a switch value: use 1, true, yes or on to enable; 0, false, no, off or empty to disable")
        }
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var text = self
        while text.first?.isWhitespace == true { text = text.dropFirst() }
        while text.last?.isWhitespace == true { text = text.dropLast() }
        return text
    }
}

extension String {
    func trimmingWhitespace() -> String { String(Substring(self).trimmingWhitespace()) }
}
