import Foundation
import Testing
import TestSupport

/// docker/: the YAML parses (PyYAML, as `docker compose` and `kubectl` would reject
/// it otherwise), and the properties the deployment depends on are there. There is
/// no Docker engine or cluster in CI, so these are the checks that can run.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct DeploymentFilesTests {
    static let yamlFiles = ["docker/compose.yaml", "docker/kubernetes/sidecar-pod.yaml", "docker/kubernetes/gateway.yaml"]

    /// Every document of `file` as JSON, through python3's yaml.safe_load_all.
    static func documents(_ file: String) async throws -> [[String: Any]] {
        let python = try #require(Tools.which("python3"), "python3 is not installed")
        let script = "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)"
        let result = try await TestProcess.run(python, ["-c", script, Repository.path(file)])
        try #require(result.status == 0, "\(file) is not valid YAML (or python3-yaml is missing): \(result.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(parsed as? [[String: Any]], "\(file): every document must be a mapping")
    }

    @Test(arguments: yamlFiles)
    func yamlParses(file: String) async throws {
        let documents = try await Self.documents(file)
        #expect(!documents.isEmpty)
    }

    @Test func composeIsolatesTheWorkloadOnAnInternalNetwork() async throws {
        let compose = try #require(try await Self.documents("docker/compose.yaml").first)
        let networks = compose["networks"] as? [String: Any] ?? [:]
        let services = compose["services"] as? [String: [String: Any]] ?? [:]
        let workloadNetworks = services["workload"]?["networks"] as? [String] ?? []
        let gatewayNetworks = services["gateway"]?["networks"] as? [String] ?? []
        // Every network the workload is on is internal, and the gateway shares one of them.
        #expect(!workloadNetworks.isEmpty)
        for name in workloadNetworks {
            #expect((networks[name] as? [String: Any])?["internal"] as? Bool == true, "workload network \(name) is not internal")
        }
        #expect(!Set(workloadNetworks).isDisjoint(with: gatewayNetworks))
        // The gateway also has a network with a route out.
        #expect(gatewayNetworks.contains { (networks[$0] as? [String: Any])?["internal"] as? Bool != true })

        let environment = services["workload"]?["environment"] as? [String: Any] ?? [:]
        #expect(environment["RELAY_INIT_GATEWAY"] as? String == "https://gateway:8443")
        let secrets = services["workload"]?["secrets"] as? [Any] ?? []
        #expect(secrets.contains { ($0 as? [String: Any])?["target"] as? String == "/run/relay-init/session_token" })
        // Every secret file the services mount is one docker/make-demo-secrets.sh writes.
        let generator = readFile(Repository.path("docker/make-demo-secrets.sh")) ?? ""
        for case let (name, secret as [String: Any]) in compose["secrets"] as? [String: Any] ?? [:] {
            let file = (secret["file"] as? String ?? "").replacingOccurrences(of: "./secrets/", with: "")
            #expect(generator.contains("$dir/\(file)\""), "secret \(name): make-demo-secrets.sh does not write \(file)")
        }
    }

    @Test func sidecarPodRunsRelayInitAsANativeSidecarOnAFixedPort() async throws {
        let pod = try #require(try await Self.documents("docker/kubernetes/sidecar-pod.yaml").first { $0["kind"] as? String == "Pod" })
        let spec = pod["spec"] as? [String: Any] ?? [:]
        let sidecar = try #require((spec["initContainers"] as? [[String: Any]])?.first { $0["name"] as? String == "relay-init" })
        #expect(sidecar["restartPolicy"] as? String == "Always")
        #expect(sidecar["args"] as? [String] == ["--listen", "127.0.0.1:3128"])
        #expect(sidecar["command"] == nil, "the image's entrypoint must stay (it execs relay-init)")

        // The sidecar and the app share /run/relay-init on an emptyDir.
        let volumes = spec["volumes"] as? [[String: Any]] ?? []
        let emptyDirs = Set(volumes.filter { $0["emptyDir"] != nil }.compactMap { $0["name"] as? String })
        func runDirVolume(_ container: [String: Any]) -> String? {
            (container["volumeMounts"] as? [[String: Any]])?.first { $0["mountPath"] as? String == "/run/relay-init" }?["name"] as? String
        }
        let app = try #require((spec["containers"] as? [[String: Any]])?.first)
        let shared = runDirVolume(sidecar)
        #expect(shared != nil && shared == runDirVolume(app) && emptyDirs.contains(shared ?? ""))
        let appEnvironment = (app["env"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
            $0[$1["name"] as? String ?? ""] = $1["value"] as? String
        }
        #expect(appEnvironment["HTTPS_PROXY"] == "http://127.0.0.1:3128")
        #expect(appEnvironment["SSL_CERT_FILE"] == "/run/relay-init/ca-bundle.crt")
    }

    @Test func gatewayDeploymentIsReplicatedWithSecretsAndATCPReadinessProbe() async throws {
        let documents = try await Self.documents("docker/kubernetes/gateway.yaml")
        let deployment = try #require(documents.first { $0["kind"] as? String == "Deployment" })
        #expect(documents.contains { $0["kind"] as? String == "Service" })
        let spec = deployment["spec"] as? [String: Any] ?? [:]
        #expect((spec["replicas"] as? Int ?? 0) >= 2)
        let pod = (spec["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        #expect((container["readinessProbe"] as? [String: Any])?["tcpSocket"] != nil)
        let secretVolumes = (pod["volumes"] as? [[String: Any]] ?? []).compactMap { ($0["secret"] as? [String: Any])?["secretName"] as? String }
        #expect(Set(secretVolumes) == ["relay-gateway-tokens", "relay-gateway-tls"])
        #expect((pod["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool == true)
    }

    /// What the Dockerfiles copy from the build context exists, and both build with
    /// scripts/install.sh; the workload image's entry is the entrypoint script.
    @Test(arguments: ["docker/Dockerfile", "docker/Dockerfile.gateway"])
    func dockerfileSourcesExistAndTheInstallScriptBuilds(file: String) throws {
        let text = try #require(readFile(Repository.path(file)))
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for line in lines where line.hasPrefix("COPY ") && !line.contains("--from=") {
            let words = line.split(separator: " ").map(String.init)
            for source in words.dropFirst().dropLast() where source != "." {
                #expect(FileManager.default.fileExists(atPath: Repository.path(source)), "\(file): \(line)")
            }
        }
        #expect(text.contains("scripts/install.sh --skip-deps --static-swift-stdlib"))
        #expect(text.contains("FROM swift:${SWIFT_VERSION}-bookworm AS builder"))
        if file == "docker/Dockerfile" {
            #expect(lines.contains(#"ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]"#))
            // relay-init is the init: no second one in front of it (comments may say so).
            #expect(!lines.contains { !$0.hasPrefix("#") && $0.contains("tini") })
        } else {
            #expect(lines.contains("EXPOSE 8443"))
            #expect(lines.contains { $0.hasPrefix("USER ") && !$0.hasPrefix("USER root") && !$0.hasPrefix("USER 0") })
        }
    }
}
