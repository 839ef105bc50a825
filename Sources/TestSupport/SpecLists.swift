/// SPEC's lists written out by hand, so that a test compares the code with the contract and
/// not with itself: a test that builds its expectation from `ProxyEnvironment.caBundleVariables`
/// passes whatever that list holds. When SPEC changes, this file changes with it, and the
/// tests of every target that checks these lists use it.
public enum SpecLists {
    /// SPEC §4: the 15 CA variables, each set to the merged bundle's path.
    public static let caVariables = [
        "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT",
        "NIX_SSL_CERT_FILE", "HTTPLIB2_CA_CERTS", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", "BUNDLE_SSL_CA_CERT", "HEX_CACERTS_PATH",
    ]

    /// SPEC §4: the default NO_PROXY list, in order, before the gateway's hosts and `--no-proxy`.
    public static let noProxyDefaults = [
        "localhost", "127.0.0.1", "::1", "127.0.0.0/8", "169.254.0.0/16", "10.0.0.0/8",
        "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", ".svc.cluster.local", "host.docker.internal",
    ]

    /// SPEC §4: every variable relay-init adds (besides those of §11 whose conditions hold).
    public static let proxyVariables = ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "RELAY_INIT_PROXY_PORT"] + Self.caVariables

    /// SPEC §8: relay-init's own exit codes (the child's code and 128+N pass through).
    public enum ExitCode {
        public static let badUsage: Int32 = 64
        public static let setupFailed: Int32 = 69
        public static let notExecutable: Int32 = 126
        public static let notFound: Int32 = 127
        public static let sidecarStopped: Int32 = 0
        public static func killedBySignal(_ signal: Int32) -> Int32 { 128 + signal }
    }
}
