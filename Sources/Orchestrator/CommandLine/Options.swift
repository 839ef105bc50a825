import ArgumentParser

/// The command line as typed, before the environment and the defaults are applied.
///
/// Every value is optional so that `Settings.resolve` can tell "not given" from "given":
/// a flag wins over its variable, the variable over the default.
public struct Options: ParsableArguments, Sendable {
    @Option(
        name: .customLong("gateway"),
        help: ArgumentHelp(
            "Gateway base URL, https:// (or http:// for tests). Env: RELAY_INIT_GATEWAY.",
            discussion: "Example: --gateway https://gw.example/prefix",
            valueName: "URL"
        )
    )
    public var gateway: String?

    @Option(
        name: .customLong("ws-url"),
        help: ArgumentHelp(
            "Tunnel endpoint, ws:// or wss://. Env: RELAY_INIT_WS_URL. Default: the gateway URL with http→ws, https→wss, + /v1/code/upstreamproxy/ws.",
            valueName: "URL"
        )
    )
    public var webSocketURL: String?

    @Option(
        name: .customLong("ca-url"),
        help: ArgumentHelp(
            "CA certificate endpoint (PEM). Env: RELAY_INIT_CA_URL. Default: gateway + /v1/code/upstreamproxy/ca-cert.",
            valueName: "URL"
        )
    )
    public var caURL: String?

    @Option(
        name: .customLong("session-id"),
        help: ArgumentHelp(
            "Session id, sent with the token in the tunnel's Proxy-Authorization. Env: RELAY_INIT_SESSION_ID.",
            valueName: "ID"
        )
    )
    public var sessionID: String?

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp(
            "Token source 1: file holding the token; deleted once the relay listens. Env: RELAY_INIT_TOKEN_FILE. Default: /run/relay-init/session_token.",
            valueName: "PATH"
        )
    )
    public var tokenFile: String?

    @Option(
        name: .customLong("token-url"),
        help: ArgumentHelp(
            "Token source 2: GET this URL, the body is the token; used instead of the token file when given. Env: RELAY_INIT_TOKEN_URL. (Source 3, RELAY_INIT_TOKEN, holds the token itself and wins over both.)",
            valueName: "URL"
        )
    )
    public var tokenURL: String?

    @Option(
        name: .customLong("listen"),
        help: ArgumentHelp(
            "Relay listener; port 0 picks a free port, IPv6 in brackets ([::1]:0). A non-loopback address (0.0.0.0) works but is logged as a warning: whoever reaches it tunnels with this session. Env: RELAY_INIT_LISTEN. Default: 127.0.0.1:0.",
            valueName: "ADDR:PORT"
        )
    )
    public var listen: String?

    @Option(
        name: .customLong("env-file"),
        help: ArgumentHelp(
            "Env file to write, for shells to source; removed at exit. Env: RELAY_INIT_ENV_FILE. Default: /run/relay-init/proxy.env.",
            valueName: "PATH"
        )
    )
    public var envFile: String?

    @Option(
        name: .customLong("ca-bundle"),
        help: ArgumentHelp(
            "Merged CA bundle to write (system bundle + gateway CA). Env: RELAY_INIT_CA_BUNDLE. Default: /run/relay-init/ca-bundle.crt.",
            valueName: "PATH"
        )
    )
    public var caBundle: String?

    @Option(
        name: .customLong("system-ca"),
        help: ArgumentHelp(
            "System CA bundle merged in, and trusted for the token and CA fetches. Env: RELAY_INIT_SYSTEM_CA. Default: the first that exists of /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt, /etc/ssl/cert.pem.",
            valueName: "PATH"
        )
    )
    public var systemCA: String?

    @Flag(
        name: .customLong("install-system-trust"),
        help: "Also add the gateway CA to the OS trust store with update-ca-certificates or update-ca-trust (root only; left in place at exit). Env: RELAY_INIT_INSTALL_SYSTEM_TRUST=1."
    )
    public var installSystemTrust = false

    @Option(
        name: .customLong("no-proxy"),
        help: ArgumentHelp(
            "Comma list appended to the default NO_PROXY list. Env: RELAY_INIT_NO_PROXY. Example: --no-proxy .internal.example,10.1.2.3",
            valueName: "LIST"
        )
    )
    public var noProxy: String?

    @Flag(
        name: .customLong("fail-closed"),
        help: "On a setup failure exit 69 instead of running the command without the proxy. Env: RELAY_INIT_FAIL_CLOSED=1."
    )
    public var failClosed = false

    @Option(
        name: .customLong("keepalive"),
        help: ArgumentHelp(
            "Keepalive period on idle tunnels, in seconds (fractions allowed, 0 = off). Env: RELAY_INIT_KEEPALIVE. Default: 30.",
            valueName: "SECONDS"
        )
    )
    public var keepalive: String?

    @Option(
        name: .customLong("handshake-timeout"),
        help: ArgumentHelp(
            "Bound on WebSocket connect + upgrade, in seconds (> 0). Env: RELAY_INIT_HANDSHAKE_TIMEOUT. Default: 10.",
            valueName: "SECONDS"
        )
    )
    public var handshakeTimeout: String?

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp(
            "trace, debug, info, notice, warning, error or critical; logs go to stderr. Env: RELAY_INIT_LOG_LEVEL. Default: info.",
            valueName: "LEVEL"
        )
    )
    public var logLevel: String?

    @Option(
        name: .customLong("log-format"),
        help: ArgumentHelp(
            "text (for people) or json (one object per line, for log collectors). Env: RELAY_INIT_LOG_FORMAT. Default: text.",
            valueName: "FORMAT"
        )
    )
    public var logFormat: String?

    // `.postTerminator`, not `.captureForPassthrough`: only what follows `--` is the
    // command, so `relay-init --listen x -- cmd --listen y` gives `cmd` its own flags, and a
    // command typed without `--` is a usage error instead of a silent misparse.
    @Argument(
        parsing: .postTerminator,
        help: ArgumentHelp(
            "The command to run, after --. Without one, relay-init runs as a sidecar until SIGTERM/SIGINT.",
            valueName: "COMMAND"
        )
    )
    public var command: [String] = []

    public init() {}
}
