import Foundation
import Orchestrator
import TestSupport
import Testing

/// relay-init's exit paths around its init (the init itself: Tests/InitTests): the command's
/// status passed through, fail open, fail closed. Every run fails open against an unreachable
/// gateway, so no gateway is needed and the command runs unproxied.
@Suite struct ExitPathsTests {
    /// The init's statuses are relay-init's, and the env file (here the "disabled" one) goes
    /// at exit whatever the exit path.
    @Test func theInitsStatusIsRelayInitsAndTheEnvFileGoes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = RelayInitBinary.unreachableGateway(directory)
        let script = directory.file("script.sh")
        try "#!/bin/sh\necho hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        let cases: [([String], Int32)] = [
            (["sh", "-c", "exit 3"], 3),
            (["sh", "-c", "kill -TERM $$"], 143),
            (["relay-init-no-such-command"], 127),
            ([script], 126),
        ]
        for (command, expected) in cases {
            let result = try await RelayInitBinary.run(["--"] + command, environment: environment)
            #expect(result.status == expected, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("exiting with status \(expected)"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory.file("proxy.env")))
        }
    }

    // A stop request during set-up: see StopDuringSetupTests.

    @Test func failClosedExits69WithoutRunningOrEnvFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let marker = directory.file("ran")
        let result = try await RelayInitBinary.run(
            ["--fail-closed", "--", "sh", "-c", "touch \"$1\"", "sh", marker],
            environment: RelayInitBinary.unreachableGateway(directory)
        )
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("127.0.0.1:1"), "the cause is logged: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(!FileManager.default.fileExists(atPath: directory.file("proxy.env")))

        // The variable does the same.
        let byVariable = try await RelayInitBinary.run(
            ["--", "sh", "-c", "touch \"$1\"", "sh", marker],
            environment: RelayInitBinary.unreachableGateway(directory).merging(["RELAY_INIT_FAIL_CLOSED": "yes"]) { $1 }
        )
        #expect(byVariable.status == 69)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func failOpenRunsUnproxiedWithADisabledEnvFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let envFile = directory.file("proxy.env")
        let token = "tok-\(UUID().uuidString)"
        let result = try await RelayInitBinary.run(
            ["--", "sh", "-c", "cat \"$1\"; echo ---; env", "sh", envFile],
            environment: RelayInitBinary.unreachableGateway(directory, token: token)
        )
        #expect(result.status == 0, "\(result.stderr)")
        let parts = result.stdout.components(separatedBy: "---\n")
        let (fileText, childEnvironment) = (parts[0], parts[1])
        let fileLines = fileText.split(separator: "\n")
        #expect(fileLines.allSatisfy { $0.hasPrefix("#") })
        #expect(fileLines.contains { $0.contains("disabled") && $0.contains("http://127.0.0.1:1/v1/code/upstreamproxy/ca-cert") })
        // None of SPEC §4's variables.
        for name in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "SSL_CERT_FILE", "RELAY_INIT_PROXY_PORT", "RELAY_INIT_TOKEN"] {
            #expect(!childEnvironment.contains("\(name)="), "\(name) set")
        }
        // One warning line naming the cause.
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("warning") }
        #expect(warnings.count == 1, "\(result.stderr)")
        #expect(warnings.first?.contains("127.0.0.1:1") == true)
        // The token is nowhere.
        #expect(!result.stdout.contains(token))
        #expect(!result.stderr.contains(token))
        #expect(!FileManager.default.fileExists(atPath: envFile), "removed at exit")
    }

    @Test func missingGatewayOrSessionIsASetupFailureNotBadUsage() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var environment = RelayInitBinary.unreachableGateway(directory)
        environment["RELAY_INIT_GATEWAY"] = nil
        let noGateway = try await RelayInitBinary.run(["--", "true"], environment: environment)
        #expect(noGateway.status == 0)
        #expect(noGateway.stderr.contains("no gateway"))

        environment = RelayInitBinary.unreachableGateway(directory)
        environment["RELAY_INIT_SESSION_ID"] = nil
        let noSession = try await RelayInitBinary.run(["--fail-closed", "--", "true"], environment: environment)
        #expect(noSession.status == 69)
        #expect(noSession.stderr.contains("no session id"))
    }
}
