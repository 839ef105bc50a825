import Foundation

/// The command-line options a test gives relay-init before `--`: where the gateway is, the
/// session, where the env file and the CA bundle go, and the system bundle to merge. One
/// builder for every harness, so that a new option is added in one place.
public struct RelayInitOptions: Sendable {
    /// `--gateway`.
    public var gateway: String
    /// `--session-id`.
    public var sessionID: String
    /// `--env-file`.
    public var envFile: String
    /// `--ca-bundle`.
    public var caBundle: String
    /// `--system-ca`: a file that exists, so that no "no system bundle" warning clutters the
    /// logs the tests read.
    public var systemCA: String
    /// `--ws-url`, when the tunnels go elsewhere than the gateway's default endpoint.
    public var webSocketURL: String?
    /// `--ca-url`, when the CA comes from elsewhere than the gateway.
    public var caURL: String?
    /// `--fail-closed`.
    public var failClosed: Bool
    /// `--log-level`, when not the default.
    public var logLevel: String?
    /// Anything else (`--handshake-timeout`, `--keepalive`, …), last.
    public var extra: [String]

    public init(
        gateway: String, sessionID: String, envFile: String, caBundle: String, systemCA: String,
        webSocketURL: String? = nil, caURL: String? = nil, failClosed: Bool = false, logLevel: String? = nil, extra: [String] = []
    ) {
        self.gateway = gateway
        self.sessionID = sessionID
        self.envFile = envFile
        self.caBundle = caBundle
        self.systemCA = systemCA
        self.webSocketURL = webSocketURL
        self.caURL = caURL
        self.failClosed = failClosed
        self.logLevel = logLevel
        self.extra = extra
    }

    public var arguments: [String] {
        var arguments = [
            "--gateway", self.gateway,
            "--session-id", self.sessionID,
            "--env-file", self.envFile,
            "--ca-bundle", self.caBundle,
            "--system-ca", self.systemCA,
        ]
        if self.failClosed { arguments.append("--fail-closed") }
        if let level = self.logLevel { arguments += ["--log-level", level] }
        if let url = self.webSocketURL { arguments += ["--ws-url", url] }
        if let url = self.caURL { arguments += ["--ca-url", url] }
        return arguments + self.extra
    }

    /// The relay's CONNECT port as the env file at `envFile` states it (`RELAY_INIT_PROXY_PORT`),
    /// or nil while there is none.
    public static func proxyPort(in envFile: String) -> Int? {
        guard let text = readFile(envFile),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("export RELAY_INIT_PROXY_PORT=") })
        else { return nil }
        return Int(line.dropFirst("export RELAY_INIT_PROXY_PORT=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'")))
    }
}
