import Foundation
import Testing
import TestSupport

/// Paths into the source tree (the scripts are tested where they live, not copies).
enum Repository {
    /// The package root: this file is `Tests/ScriptsTests/Support.swift`.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func path(_ relative: String) -> String {
        (root as NSString).appendingPathComponent(relative)
    }

    static let entrypoint = path("entrypoint/docker-entrypoint.sh")
    static let profileSnippet = path("entrypoint/profile.d/relay-init.sh")
    static let installScript = path("scripts/install.sh")
}

/// The environment the entrypoint sees in a container, scaled down to a test:
/// relay-init found on PATH (the image has it in /usr/local/bin), every file it
/// writes inside `directory`, and a gateway nobody listens on (port 1), so it
/// fails open at once and runs the command without the proxy.
func failOpenEnvironment(_ directory: TemporaryDirectory, _ extra: [String: String] = [:]) -> [String: String] {
    let binaries = (Binaries.path("relay-init") as NSString).deletingLastPathComponent
    let base = TestProcess.minimalEnvironment()
    return base.merging([
        "PATH": "\(binaries):\(base["PATH"] ?? "/usr/bin:/bin")",
        "RELAY_INIT_GATEWAY": "http://127.0.0.1:1",
        "RELAY_INIT_SESSION_ID": "scripts-tests",
        "RELAY_INIT_TOKEN": "not-a-real-token",
        "RELAY_INIT_ENV_FILE": directory.file("proxy.env"),
        "RELAY_INIT_CA_BUNDLE": directory.file("ca-bundle.crt"),
    ].merging(extra) { _, new in new }) { _, new in new }
}

func report(_ result: ProcessResult) -> String {
    result.report()
}
