import Foundation
import Testing
import TestSupport

/// `scripts/image-rootfs.sh check`: the runtime stages of `docker/Dockerfile` and
/// `docker/Dockerfile.gateway` built as Debian root filesystems (cached in `.cache/rootfs`),
/// the release binaries installed as the Dockerfiles install them, then the gateway image's
/// ENTRYPOINT and the relay-init image's ENTRYPOINT (`curl https://target.test…` as CMD)
/// each chrooted in a new PID namespace (and in the network rig's `gateway` and `workload`
/// namespaces when `scripts/netns.sh` is there). Proves the images hold every library and file the
/// binaries need. Needs root, the Debian mirror, and the release binaries (`scripts/test.sh`
/// builds them: `swift build -c release --static-swift-stdlib --scratch-path .build-release`).
@Suite(.timeLimit(.minutes(TestTime.minutes(10))))
struct ImageRootfsTests {
    static let script = Repository.path("scripts/image-rootfs.sh")

    @Test func theImagesRuntimeRootsRunTheGatewayAndCurlThroughRelayInit() async throws {
        try #require(geteuid() == 0, "needs root (mmdebstrap, mounts, chroot, PID namespaces)")
        for binary in ["relay-init", "relay-gateway"] {
            try #require(
                FileManager.default.isExecutableFile(atPath: Repository.path(".build-release/release/\(binary)")),
                "no release \(binary): swift build -c release --static-swift-stdlib --scratch-path .build-release --product \(binary)"
            )
        }
        // In the network rig when there is one (scripts/netns.sh): the workload in its
        // `workload` namespace, the gateway in `gateway`; otherwise on the loopback.
        let rig = FileManager.default.isExecutableFile(atPath: Repository.path("scripts/netns.sh"))
        // The first run builds three roots with mmdebstrap (about a minute and a half);
        // later runs reuse them and take seconds.
        let result = try await TestProcess.run(
            Self.script, ["check", "--skip-build"] + (rig ? ["--rig"] : []),
            environment: TestProcess.minimalEnvironment(),
            currentDirectory: Repository.root,
            timeout: .seconds(480)
        )
        #expect(result.status == 0, "\(report(result))")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("pid1=relay-init"), "relay-init is not PID 1 in the runtime root: \(report(result))")
        #expect(lines.contains("hello from target"), "curl in the demo root: \(report(result))")
        #expect(lines.last == "image-rootfs: check passed", "\(report(result))")
    }

    /// The roots are read from the Dockerfiles: the packages of the runtime stages (`demo`
    /// adds its own to those of `runtime`, which it is built FROM), and the suite of their
    /// base image.
    @Test func thePackageListsComeFromTheDockerfiles() async throws {
        let result = try await TestProcess.run(
            Self.script, ["packages"], environment: TestProcess.minimalEnvironment(), currentDirectory: Repository.root
        )
        #expect(result.status == 0, "\(report(result))")
        var roots: [String: [String]] = [:]
        for line in result.stdout.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            roots[words[0]] = Array(words.dropFirst())
        }
        let runtime = try #require(roots["runtime"], "\(report(result))")
        let demo = try #require(roots["demo"], "\(report(result))")
        let gateway = try #require(roots["gateway"], "\(report(result))")
        #expect(runtime.first == "bookworm" && demo.first == "bookworm" && gateway.first == "bookworm")
        #expect(runtime.contains("libcurl4") && runtime.contains("ca-certificates"), "\(runtime)")
        #expect(demo == runtime + ["curl"], "\(demo)")
        #expect(gateway.contains("ca-certificates") && !gateway.contains("libcurl4"), "\(gateway)")
    }
}
