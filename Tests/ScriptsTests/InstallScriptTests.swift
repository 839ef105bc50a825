import Foundation
import Testing
import TestSupport

/// `scripts/install.sh`, through `--dry-run` (a real release build takes many minutes;
/// one was run by hand, see the report). The printed commands are the ones it runs.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct InstallScriptTests {
    static func dryRun(_ arguments: [String]) async throws -> ProcessResult {
        try await TestProcess.run(Repository.installScript, ["--dry-run"] + arguments, environment: TestProcess.minimalEnvironment())
    }

    @Test func defaultsInstallDepsBuildsReleaseAndInstallsToUsrLocal() async throws {
        let result = try await Self.dryRun([])
        #expect(result.status == 0, "\(report(result))")
        let bin = Repository.path(".build/release")
        #expect(result.stdout == """
            + scripts/install-deps.sh
            + swift build -c release --product relay-init
            + swift build -c release --product relay-gateway
            + install -d /usr/local/bin
            + install -m 0755 \(bin)/relay-init /usr/local/bin/relay-init
            + install -m 0755 \(bin)/relay-gateway /usr/local/bin/relay-gateway

            """, "\(report(result))")
    }

    @Test func optionsAsTheDockerfileUsesThem() async throws {
        let result = try await Self.dryRun(["--skip-deps", "--prefix", "/opt/relay init", "--static-swift-stdlib", "--strip"])
        #expect(result.status == 0, "\(report(result))")
        let bin = Repository.path(".build/release")
        #expect(result.stdout == """
            + swift build -c release --static-swift-stdlib --product relay-init
            + swift build -c release --static-swift-stdlib --product relay-gateway
            + install -d /opt/relay\\ init/bin
            + install -m 0755 -s \(bin)/relay-init /opt/relay\\ init/bin/relay-init
            + install -m 0755 -s \(bin)/relay-gateway /opt/relay\\ init/bin/relay-gateway

            """, "\(report(result))")
    }

    @Test(arguments: [["--bogus"], ["--prefix"], ["--prefix", ""]])
    func badUsageExits64(arguments: [String]) async throws {
        let result = try await Self.dryRun(arguments)
        #expect(result.status == 64, "\(report(result))")
        #expect(result.stdout == "", "\(report(result))")
    }
}
