import Foundation
import Testing
import TestSupport

/// relay-init as root in Linux namespaces of its own (`unshare`): as PID 1 of a PID
/// namespace, with the real `update-ca-certificates` on a private copy of the trust store,
/// and with a private /etc/hosts. Nothing of the host is modified. CI runs as root with
/// util-linux and ca-certificates installed; elsewhere these tests fail, saying why.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct NamespaceEndToEndTests {
    static func requireRootAndTools(_ tools: [String]) throws {
        try #require(geteuid() == 0, "these tests need root (mount and PID namespaces)")
        for tool in tools {
            try #require(Tools.which(tool) != nil || FileManager.default.isExecutableFile(atPath: "/usr/sbin/\(tool)"), "\(tool) is not installed")
        }
    }

    /// `unshare --mount`, then `setup` (shell commands, mounts that vanish with the
    /// namespace), then `exec relay-init OPTIONS`.
    static func inMountNamespace(setup: String, relayInit arguments: [String]) -> [String] {
        ["--mount", "--propagation", "private", "sh", "-c", "set -e\n\(setup)\nexec \"$@\"", "sh", Stack.relayInitPath] + arguments
    }

    @Test func asPID1InAPIDNamespace() async throws {
        try Self.requireRootAndTools(["unshare"])
        try await Stack.with { stack in
            let script = """
                echo "pid1=$(cat /proc/1/comm) parent=$PPID"
                curl -sS "$1"
                exit 5
                """
            let result = try await TestProcess.run(
                "unshare",
                ["--pid", "--fork", "--mount-proc", Stack.relayInitPath] + stack.relayInitOptions()
                    + ["--", "sh", "-c", script, "sh", stack.targetURL("/hello")],
                environment: stack.environment(), timeout: .seconds(60)
            )
            #expect(result.status == 5, "\(stack.report(result))")
            #expect(result.stdout == "pid1=relay-init parent=1\nhello from target\n", "\(stack.report(result))")
            #expect(!fileExists(stack.envFile))
        }
    }

    /// `--install-system-trust` with the real update-ca-certificates, on a private copy of
    /// /etc/ssl/certs and an empty /usr/local/share/ca-certificates (and no update hooks,
    /// which would touch dpkg state). Afterwards even a client without any CA variable
    /// trusts the target, through the OS store alone.
    @Test func installSystemTrustWithUpdateCACertificates() async throws {
        try Self.requireRootAndTools(["unshare", "update-ca-certificates"])
        try await Stack.with { stack in
            let storeCopy = stack.directory.file("etc-ssl-certs")
            try await prepare("cp", ["-a", "/etc/ssl/certs", storeCopy])
            let hostBundleBefore = try #require(readFile(Stack.realSystemBundle))

            let setup = """
                mount -t tmpfs tmpfs /usr/local/share/ca-certificates
                mount --bind "\(storeCopy)" /etc/ssl/certs
                if [ -d /etc/ca-certificates/update.d ]; then mount -t tmpfs tmpfs /etc/ca-certificates/update.d; fi
                """
            let report = stack.directory.path
            let script = """
                ls /usr/local/share/ca-certificates > "$1/anchors.list"
                cat /usr/local/share/ca-certificates/*.crt > "$1/anchors.pem"
                env -u CURL_CA_BUNDLE -u SSL_CERT_FILE -u SSL_CERT_DIR curl -sS "$2"
                """
            let result = try await TestProcess.run(
                "unshare",
                Self.inMountNamespace(
                    setup: setup,
                    relayInit: stack.relayInitOptions() + ["--install-system-trust", "--", "sh", "-c", script, "sh", report, stack.targetURL("/hello")]
                ),
                environment: stack.environment(), timeout: .seconds(60)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "trusted through the OS store: \(stack.report(result))")

            let anchors = readFile(report + "/anchors.list") ?? ""
            #expect(anchors.split(separator: "\n").count == 1 && anchors.hasSuffix(".crt\n"), "anchors: \(anchors)")
            #expect(readFile(report + "/anchors.pem") == stack.ca.certificatePEM, "\(stack.report(result))")
            // The rebuilt bundle, written through the bind mount into the copy.
            let rebuilt = readFile(storeCopy + "/ca-certificates.crt") ?? ""
            #expect(rebuilt.contains(stack.ca.certificatePEM), "the rebuilt bundle lacks the gateway CA")

            // The host's store is as it was.
            #expect(readFile(Stack.realSystemBundle) == hostBundleBefore)
            let hostAnchors = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/local/share/ca-certificates")) ?? []
            for anchor in anchors.split(separator: "\n") {
                #expect(!hostAnchors.contains(String(anchor)), "\(anchor) leaked into the host's store")
            }
        }
    }

    /// NO_PROXY holds the gateway's *name* (not only the default loopback entries): with the
    /// gateway at `https://gateway.test:G` (a name only a private /etc/hosts knows), an
    /// https request to it goes direct. Through the relay it would fail: the gateway cannot
    /// dial `gateway.test`.
    @Test func theGatewayHostNameBypassesTheRelay() async throws {
        try Self.requireRootAndTools(["unshare"])
        try await Stack.with(.init(tlsGateway: true)) { stack in
            let hosts = stack.directory.file("hosts")
            try "127.0.0.1 localhost gateway.test\n::1 localhost\n".write(toFile: hosts, atomically: true, encoding: .utf8)
            let gateway = "https://gateway.test:\(stack.gatewayPort)"
            let script = """
                echo "no_proxy=$NO_PROXY"
                curl -sS "$1/v1/code/upstreamproxy/ca-cert"
                curl -sS "$2"
                """
            let result = try await TestProcess.run(
                "unshare",
                Self.inMountNamespace(
                    setup: "mount --bind \"\(hosts)\" /etc/hosts",
                    relayInit: stack.relayInitOptions(gateway: gateway) + ["--", "sh", "-c", script, "sh", gateway, stack.targetURL("/hello")]
                ),
                environment: stack.environment(), timeout: .seconds(60)
            )
            #expect(result.status == 0, "\(stack.report(result))")
            let noProxy = result.stdout.split(separator: "\n").first { $0.hasPrefix("no_proxy=") }?.dropFirst("no_proxy=".count) ?? ""
            #expect(noProxy == (SpecLists.noProxyDefaults + ["gateway.test"]).joined(separator: ","), "\(noProxy)")
            #expect(result.stdout.contains(stack.ca.certificatePEM), "\(stack.report(result))")
            // …while the target still goes through the relay.
            #expect(result.stdout.hasSuffix("hello from target\n"), "\(stack.report(result))")
        }
    }
}
