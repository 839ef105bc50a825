import Foundation
import Testing
import TestSupport

/// `entrypoint/docker-entrypoint.sh` run for real, with the debug relay-init on PATH.
/// relay-init fails open (no gateway), which is enough to see who runs what.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct EntrypointTests {
    /// As a container's PID 1: the entrypoint's shell must be replaced by relay-init
    /// (exec), or signals from `docker stop` would reach a shell instead of the init.
    @Test func relayInitReplacesTheEntrypointAsPID1AndTheExitCodePassesThrough() async throws {
        try #require(geteuid() == 0, "needs root for a PID namespace (unshare --pid)")
        try #require(Tools.which("unshare") != nil, "unshare (util-linux) is not installed")
        let directory = try TemporaryDirectory(prefix: "scripts-entrypoint")
        defer { directory.remove() }
        let result = try await TestProcess.run(
            "unshare",
            ["--pid", "--fork", "--mount-proc", Repository.entrypoint, "sh", "-c", "echo $$; cat /proc/1/comm; exit 7"],
            environment: failOpenEnvironment(directory)
        )
        #expect(result.status == 7, "\(report(result))")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(report(result))")
        #expect(lines.first != "1", "the command itself is PID 1: \(report(result))")
        #expect(lines.last == "relay-init", "PID 1 is not relay-init: \(report(result))")
        #expect(result.stderr.contains("proxy disabled"), "\(report(result))")
    }

    /// No arguments: the default command, `sh`, as relay-init's child. It reads the
    /// script from stdin, so it also shows stdin reaches the command.
    @Test func noArgumentsRunsTheDefaultShellUnderRelayInit() async throws {
        let directory = try TemporaryDirectory(prefix: "scripts-entrypoint")
        defer { directory.remove() }
        let script = "echo \"default: $0 under $(cat /proc/$PPID/comm)\"; exit 3\n"
        let result = try await TestProcess.run(
            Repository.entrypoint, [], environment: failOpenEnvironment(directory), stdin: Data(script.utf8)
        )
        #expect(result.status == 3, "\(report(result))")
        #expect(result.stdout == "default: sh under relay-init\n", "\(report(result))")
    }

    /// Arguments starting with `-` are relay-init's options. Without `--` that is sidecar
    /// mode, where a setup failure exits 69; with `--` the command follows. Were `--`
    /// put in front of them, relay-init would look for a command named `--fail-closed`.
    @Test(arguments: [
        ["--fail-closed"],
        ["--fail-closed", "--", "sh", "-c", "echo the command ran"],
    ])
    func optionsFirstGoToRelayInit(arguments: [String]) async throws {
        let directory = try TemporaryDirectory(prefix: "scripts-entrypoint")
        defer { directory.remove() }
        let result = try await TestProcess.run(Repository.entrypoint, arguments, environment: failOpenEnvironment(directory))
        #expect(result.status == SpecLists.ExitCode.setupFailed, "\(report(result))")
        #expect(result.stdout == "", "\(report(result))")
    }

    /// RELAY_GATEWAY_TLS_CA: relay-init is pointed at the system bundle plus the
    /// gateway's private CA, written next to the merged bundle.
    @Test func gatewayTLSCAIsAddedToTheSystemBundle() async throws {
        let directory = try TemporaryDirectory(prefix: "scripts-entrypoint")
        defer { directory.remove() }
        try "SYSTEM ROOTS\n".write(toFile: directory.file("system.pem"), atomically: true, encoding: .utf8)
        try "GATEWAY CA\n".write(toFile: directory.file("gateway-ca.pem"), atomically: true, encoding: .utf8)
        let environment = failOpenEnvironment(directory, [
            "RELAY_INIT_SYSTEM_CA": directory.file("system.pem"),
            "RELAY_GATEWAY_TLS_CA": directory.file("gateway-ca.pem"),
        ])
        let result = try await TestProcess.run(
            Repository.entrypoint, ["sh", "-c", "echo \"$RELAY_INIT_SYSTEM_CA\"; cat \"$RELAY_INIT_SYSTEM_CA\""],
            environment: environment
        )
        #expect(result.status == 0, "\(report(result))")
        let combined = directory.file("system-and-gateway-ca.crt")
        #expect(result.stdout == "\(combined)\nSYSTEM ROOTS\n\nGATEWAY CA\n", "\(report(result))")
        #expect(!FileManager.default.fileExists(atPath: combined + ".tmp"))
    }

    /// An unreadable RELAY_GATEWAY_TLS_CA is reported and ignored: relay-init's own
    /// fail-open/fail-closed policy decides, not the shell's `set -e`.
    @Test func missingGatewayTLSCAIsAWarningNotAnExit() async throws {
        let directory = try TemporaryDirectory(prefix: "scripts-entrypoint")
        defer { directory.remove() }
        let environment = failOpenEnvironment(directory, [
            "RELAY_INIT_SYSTEM_CA": "/etc/ssl/certs/ca-certificates.crt",
            "RELAY_GATEWAY_TLS_CA": directory.file("absent.pem"),
        ])
        let result = try await TestProcess.run(
            Repository.entrypoint, ["sh", "-c", "echo \"$RELAY_INIT_SYSTEM_CA\""], environment: environment
        )
        #expect(result.status == 0, "\(report(result))")
        #expect(result.stdout == "/etc/ssl/certs/ca-certificates.crt\n", "\(report(result))")
        #expect(result.stderr.contains("RELAY_GATEWAY_TLS_CA=\(directory.file("absent.pem")) is not readable"), "\(report(result))")
    }
}
