import NIOCore
import RelayProtocol

/// One `NAME=value` pair of the child's environment.
public struct EnvironmentVariable: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(self.name)=\(self.value)" }
}

/// NO_PROXY: the default list, the gateway's own host names (the gateway must never be
/// tunnelled through itself), then the user's entries. No entry twice.
public enum NoProxyList {
    /// SPEC §4: loopback, link-local, the private and carrier-grade NAT ranges, in-cluster
    /// service names and Docker's host alias.
    public static let defaults = [
        "localhost", "127.0.0.1", "::1", "127.0.0.0/8",
        "169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
        ".svc.cluster.local", "host.docker.internal",
    ]

    /// `gatewayHosts` are host names as parsed (IPv6 without brackets).
    public static func compose(gatewayHosts: [String], extra: [String]) -> [String] {
        var seen: Set<String> = []
        var list: [String] = []
        // Host names are case-insensitive, so `GW.example` and `gw.example` are one entry.
        for entry in Self.defaults + gatewayHosts + extra where seen.insert(entry.lowercased()).inserted {
            list.append(entry)
        }
        return list
    }

    /// The hosts of the endpoints relay-init talks to directly.
    public static func gatewayHosts(of settings: Settings) -> [String] {
        [settings.gateway?.host, settings.webSocketURL?.host, settings.caURL?.host, settings.tokenURL?.host].compactMap { $0 }
    }
}

/// The variables of SPEC §4, shared by the env file and the child.
public enum ProxyEnvironment {
    /// Every variable a common tool reads its CA bundle path from (SPEC §4's 15).
    public static let caBundleVariables = [
        "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT",
        "NIX_SSL_CERT_FILE", "HTTPLIB2_CA_CERTS", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", "BUNDLE_SSL_CA_CERT", "HEX_CACERTS_PATH",
    ]

    /// `http://ADDR:PORT` for the address the relay listens on. A wildcard bind is reached
    /// through loopback (`0.0.0.0` → `127.0.0.1`, `::` → `::1`); IPv6 goes in brackets.
    public static func proxyURL(host: String, port: Int) -> String {
        let reachable: String
        switch host {
        case "0.0.0.0": reachable = "127.0.0.1"
        case "::": reachable = "::1"
        default: reachable = host
        }
        return "http://\(Authority(host: reachable, port: port))"
    }

    public static func proxyURL(for address: SocketAddress) -> String {
        Self.proxyURL(host: address.ipAddress ?? "127.0.0.1", port: address.port ?? 0)
    }

    /// The variables, in the order the env file lists them.
    public static func variables(proxyURL: String, port: Int, noProxy: [String], caBundle: String) -> [EnvironmentVariable] {
        let noProxyValue = noProxy.joined(separator: ",")
        return [
            EnvironmentVariable("HTTPS_PROXY", proxyURL),
            EnvironmentVariable("https_proxy", proxyURL),
            EnvironmentVariable("NO_PROXY", noProxyValue),
            EnvironmentVariable("no_proxy", noProxyValue),
        ]
            + Self.caBundleVariables.map { EnvironmentVariable($0, caBundle) }
            + [EnvironmentVariable("RELAY_INIT_PROXY_PORT", String(port))]
    }

    /// The inherited environment (`NAME=value` strings, in order) minus `RELAY_INIT_TOKEN`,
    /// with `variables` replacing any inherited variable of the same name.
    public static func childEnvironment(inherited: [String], adding variables: [EnvironmentVariable]) -> [String] {
        var replaced = Set(variables.map(\.name))
        // Removed whatever happens: the token never reaches the child.
        replaced.insert(TokenSource.variable)
        let kept = inherited.filter { entry in
            let name = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            return !replaced.contains(String(name))
        }
        return kept + variables.map(\.description)
    }
}
