import Foundation
import TestSupport

/// What the client-tool tests (on loopback and in the network rig) give git and pip: a home
/// of their own, environments without the machine's configuration, and the things served.
enum ToolFixtures {
    /// git with no system or user configuration beyond an identity, never prompting.
    static func gitEnvironment(home: String) -> [String: String] {
        TestProcess.minimalEnvironment([
            "HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "relay-init tests", "GIT_AUTHOR_EMAIL": "tests@relay-init.invalid",
            "GIT_COMMITTER_NAME": "relay-init tests", "GIT_COMMITTER_EMAIL": "tests@relay-init.invalid",
        ])
    }

    /// pip's variables: no configuration file, cache, prompt or version check, no user site.
    static func pipVariables(home: String) -> [String: String] {
        [
            "HOME": home, "PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1", "PIP_NO_INPUT": "1", "PYTHONNOUSERSITE": "1",
        ]
    }

    /// A repository with one commit holding README.txt = `contents`, as a bare repository at
    /// `served/repo.git` ready for the dumb HTTP protocol (built in `scratch/work`).
    static func serveRepository(contents: String, served: String, scratch: String, environment: [String: String]) async throws {
        let work = scratch + "/work"
        try await prepare("git", ["init", "-q", work], environment: environment)
        try contents.write(toFile: work + "/README.txt", atomically: true, encoding: .utf8)
        try await prepare("git", ["-C", work, "add", "README.txt"], environment: environment)
        try await prepare("git", ["-C", work, "commit", "-q", "-m", "first"], environment: environment)
        try await prepare("git", ["clone", "-q", "--bare", work, served + "/repo.git"], environment: environment)
        try await prepare("git", ["-C", served + "/repo.git", "update-server-info"], environment: environment)
    }
}
