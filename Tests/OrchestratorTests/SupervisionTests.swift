import Foundation
import Orchestrator
import TestSupport
import Testing

/// relay-init as init: exit codes, signals, reaping. Every run fails open against an
/// unreachable gateway, so no gateway is needed and the command runs unproxied.
@Suite struct SupervisionTests {
    static let exitCases: [([String], Int32)] = [
        (["sh", "-c", "exit 3"], 3),
        (["sh", "-c", "exit 0"], 0),
        (["sh", "-c", "kill -9 $$"], 137),
        (["sh", "-c", "kill -TERM $$"], 143),
        (["false"], 1),
    ]

    @Test(arguments: Self.exitCases)
    func exitsWithTheChildsStatus(command: [String], expected: Int32) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try await RelayInitBinary.run(["--"] + command, environment: RelayInitBinary.unreachableGateway(directory))
        #expect(result.status == expected, "\(result.stderr)")
    }

    @Test func notExecutableIs126() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = directory.file("script.sh")
        try "#!/bin/sh\necho hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        let environment = RelayInitBinary.unreachableGateway(directory)

        let result = try await RelayInitBinary.run(["--", script], environment: environment)
        #expect(result.status == 126, "\(result.stderr)")
        #expect(result.stderr.contains("cannot run '\(script)'"), "\(result.stderr)")

        let onPath = try await RelayInitBinary.run(["--", "script.sh"], environment: environment.merging(["PATH": directory.path + ":/usr/bin:/bin"]) { $1 })
        #expect(onPath.status == 126, "\(onPath.stderr)")

        let aDirectory = try await RelayInitBinary.run(["--", directory.path], environment: environment)
        #expect(aDirectory.status == 126, "\(aDirectory.stderr)")
        // The env file (here the "disabled" one) goes at exit whatever the exit path.
        #expect(!FileManager.default.fileExists(atPath: directory.file("proxy.env")))
    }

    @Test func notFoundIs127() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let environment = RelayInitBinary.unreachableGateway(directory)
        let result = try await RelayInitBinary.run(["--", "relay-init-no-such-command", "arg"], environment: environment)
        #expect(result.status == 127, "\(result.stderr)")
        #expect(result.stderr.contains("cannot run 'relay-init-no-such-command'"), "\(result.stderr)")
        let byPath = try await RelayInitBinary.run(["--", "/nonexistent/command"], environment: environment)
        #expect(byPath.status == 127, "\(byPath.stderr)")
        #expect(byPath.stderr.contains("/nonexistent/command"))
    }

    /// A child shell traps `signal`, records it in a file and exits 42.
    static func trapScript(_ name: String) -> String {
        """
        trap 'echo "\(name)" > "$1"; kill $pid 2>/dev/null; exit 42' \(name)
        sleep 60 >/dev/null 2>&1 &
        pid=$!
        echo ready
        wait $pid
        """
    }

    @Test(arguments: [
        (SIGTERM, "TERM"), (SIGINT, "INT"), (SIGHUP, "HUP"), (SIGQUIT, "QUIT"),
        (SIGUSR1, "USR1"), (SIGUSR2, "USR2"), (SIGWINCH, "WINCH"), (SIGCONT, "CONT"),
    ])
    func signalsAreForwardedToTheChild(signal: Int32, name: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let record = directory.file("signal")
        let relayInit = try RelayInitBinary.start(
            ["--", "sh", "-c", Self.trapScript(name), "sh", record],
            environment: RelayInitBinary.unreachableGateway(directory)
        )
        _ = try await relayInit.waitForLine(containing: "ready", timeout: .seconds(30))
        kill(relayInit.pid, signal)
        let status = try await relayInit.wait(timeout: .seconds(30))
        #expect(status == 42, "\(relayInit.stderr)")
        #expect(readFile(record) == "\(name)\n")
    }

    /// Orphaned grandchildren are re-parented to relay-init (a subreaper) and reaped:
    /// none stays a zombie for more than a second.
    @Test func orphansAreReaped() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let orphanFile = directory.file("orphan")
        let script = """
            ( sleep 1 >/dev/null 2>&1 & echo $! > "$1" )
            echo ready
            exec sleep 60
            """
        let relayInit = try RelayInitBinary.start(
            ["--", "sh", "-c", script, "sh", orphanFile],
            environment: RelayInitBinary.unreachableGateway(directory)
        )
        _ = try await relayInit.waitForLine(containing: "ready", timeout: .seconds(30))
        let orphan = try #require(Int32(readFile(orphanFile)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        if let status = procStatus(orphan) {
            #expect(status["PPid"] == String(relayInit.pid), "the orphan belongs to relay-init")
        }
        // Once it has exited (a zombie, or already reaped)…
        #expect(await eventually(timeout: .seconds(10)) { procStatus(orphan)?["State"]?.hasPrefix("Z") ?? true })
        // …it is reaped within a second.
        #expect(await eventually(timeout: .milliseconds(1200)) { procStatus(orphan) == nil })
        #expect(zombieChildren(of: relayInit.pid).isEmpty)

        relayInit.terminate(signal: SIGTERM)
        #expect(try await relayInit.wait(timeout: .seconds(30)) == 143)
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

/// The same duties as PID 1 of a fresh PID namespace, where the kernel drops signals that
/// have no handler: relay-init's blocked-and-waited signals must still arrive.
@Suite(.enabled(if: getuid() == 0 && Tools.which("unshare") != nil, "needs root and unshare for a PID namespace"))
struct PID1Tests {
    func start(_ command: [String], directory: TemporaryDirectory) throws -> RunningProcess {
        try TestProcess.start(
            "unshare",
            ["--pid", "--fork", "--mount-proc", RelayInitBinary.path, "--"] + command,
            environment: TestProcess.minimalEnvironment(RelayInitBinary.unreachableGateway(directory))
        )
    }

    @Test func exitStatusPassesThrough() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let process = try self.start(["sh", "-c", "echo pid=$PPID; exit 7"], directory: directory)
        #expect(try await process.wait(timeout: .seconds(30)) == 7, "\(process.stderr)")
        #expect(process.stdout.contains("pid=1"), "relay-init is PID 1: \(process.stdout)")
    }

    @Test func orphansAreReapedAsPID1() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = """
            ( sleep 0.2 >/dev/null 2>&1 & )
            sleep 1.5
            for status in /proc/[0-9]*/status; do
              grep -q '^State:.*Z' "$status" 2>/dev/null && echo "zombie $status"
            done
            echo checked
            """
        let process = try self.start(["sh", "-c", script], directory: directory)
        #expect(try await process.wait(timeout: .seconds(30)) == 0, "\(process.stderr)")
        #expect(process.stdout.contains("checked"))
        #expect(!process.stdout.contains("zombie"), "\(process.stdout)")
    }

    @Test func signalsFromOutsideReachTheChild() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let record = directory.file("signal")
        let process = try self.start(["sh", "-c", SupervisionTests.trapScript("TERM"), "sh", record], directory: directory)
        _ = try await process.waitForLine(containing: "ready", timeout: .seconds(30))
        // relay-init is unshare's only child; its pid in our namespace is in /proc.
        let children = readFile("/proc/\(process.pid)/task/\(process.pid)/children")?.split(separator: " ").compactMap { Int32($0) } ?? []
        let relayInit = try #require(children.first)
        kill(relayInit, SIGTERM)
        #expect(try await process.wait(timeout: .seconds(30)) == 42, "\(process.stderr)")
        #expect(readFile(record) == "TERM\n")
    }

    @Test func signalsFromInsideReachTheChild() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = """
            trap 'echo got-usr1; kill $pid; exit 5' USR1
            sleep 60 >/dev/null 2>&1 &
            pid=$!
            kill -USR1 1
            wait $pid
            """
        let process = try self.start(["sh", "-c", script], directory: directory)
        #expect(try await process.wait(timeout: .seconds(30)) == 5, "\(process.stderr)")
        #expect(process.stdout.contains("got-usr1"))
    }
}

/// On a terminal, the command gets its own process group and the terminal's foreground, so
/// interactive shells and Ctrl-C work as without relay-init. `script` provides a real pty.
@Suite(.enabled(if: Tools.which("script") != nil, "needs script(1) for a pseudo-terminal"))
struct TerminalTests {
    @Test func theCommandIsTheForegroundProcessGroup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Fields 1, 5 and 8 of /proc/PID/stat: pid, process group, terminal's foreground group.
        let inner = "\(RelayInitBinary.path) --log-level error -- sh -c 'cut -d\" \" -f1,5,8 /proc/$$/stat'"
        let result = try await TestProcess.run(
            "script", ["-qec", inner, "/dev/null"],
            environment: TestProcess.minimalEnvironment(RelayInitBinary.unreachableGateway(directory))
        )
        #expect(result.status == 0, "\(result.stderr)")
        let fields = result.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(fields.count == 3, "\(result.stdout)")
        if fields.count == 3 {
            #expect(fields[0] == fields[1], "own process group")
            #expect(fields[1] == fields[2], "foreground on the terminal")
        }
    }

    @Test func withoutATerminalTheCommandStillHasItsOwnGroup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let result = try await RelayInitBinary.run(
            ["--", "sh", "-c", "cut -d' ' -f1,5 /proc/$$/stat"], environment: RelayInitBinary.unreachableGateway(directory)
        )
        let fields = result.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(fields.count == 2 && fields[0] == fields[1], "\(result.stdout)")
    }
}
