import Foundation
import Testing
import TestSupport

/// Every shell script in `entrypoint/` and `scripts/` passes shellcheck. Found by
/// walking the directories, so a new script is checked without touching this test.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct ShellcheckTests {
    static let scripts: [String] = {
        var found: [String] = []
        for directory in ["entrypoint", "scripts"] {
            let root = Repository.path(directory)
            let entries = FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []
            found += entries.filter { $0.hasSuffix(".sh") }.map { "\(directory)/\($0)" }
        }
        return found.sorted()
    }()

    @Test func theScriptsUnderTestAreFound() {
        for expected in ["entrypoint/docker-entrypoint.sh", "entrypoint/profile.d/relay-init.sh", "scripts/install.sh"] {
            #expect(Self.scripts.contains(expected), "\(Self.scripts)")
        }
    }

    @Test(arguments: scripts)
    func shellcheckClean(script: String) async throws {
        let shellcheck = try #require(
            Tools.which("shellcheck"), "shellcheck is not installed: apt-get install -y shellcheck (Debian package)"
        )
        // -x follows `source`d files; scripts are checked with the shell their shebang
        // (or `# shellcheck shell=`) names.
        let result = try await TestProcess.run(shellcheck, ["-x", script], currentDirectory: Repository.root)
        #expect(result.status == 0, "\(report(result))")
    }

    /// The entrypoint must run under any POSIX sh (dash, busybox), not only bash.
    @Test func theEntrypointIsPOSIXShell() throws {
        let firstLine = readFile(Repository.entrypoint)?.split(separator: "\n").first
        #expect(firstLine == "#!/bin/sh")
    }
}
