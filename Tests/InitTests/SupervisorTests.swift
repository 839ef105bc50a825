import Foundation
import TestSupport
import Testing

/// The init's duties, through `init-harness` (Init alone as a process's init): the child's
/// status, 126/127, signal forwarding, reaping, and the sidecar's wait.
@Suite struct SupervisorTests {
    static let exitCases: [([String], Int32)] = [
        (["sh", "-c", "exit 3"], 3),
        (["sh", "-c", "exit 0"], 0),
        (["sh", "-c", "kill -9 $$"], 137),
        (["sh", "-c", "kill -TERM $$"], 143),
        (["false"], 1),
    ]

    @Test(arguments: Self.exitCases)
    func exitsWithTheChildsStatus(command: [String], expected: Int32) async throws {
        let result = try await InitHarness.run(["--"] + command)
        #expect(result.status == expected, "\(result.stderr)")
    }

    @Test func notExecutableIs126() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = directory.file("script.sh")
        try "#!/bin/sh\necho hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)

        let result = try await InitHarness.run(["--", script])
        #expect(result.status == 126, "\(result.stderr)")
        #expect(result.stderr.contains("cannot run '\(script)'"), "\(result.stderr)")

        let onPath = try await InitHarness.run(["--", "script.sh"], environment: ["PATH": directory.path + ":/usr/bin:/bin"])
        #expect(onPath.status == 126, "\(onPath.stderr)")
        #expect(onPath.stderr.contains(script), "the message names the file: \(onPath.stderr)")

        let aDirectory = try await InitHarness.run(["--", directory.path])
        #expect(aDirectory.status == 126, "\(aDirectory.stderr)")
    }

    @Test func notFoundIs127() async throws {
        let result = try await InitHarness.run(["--", "relay-init-no-such-command", "arg"])
        #expect(result.status == 127, "\(result.stderr)")
        #expect(result.stderr.contains("cannot run 'relay-init-no-such-command'"), "\(result.stderr)")
        let byPath = try await InitHarness.run(["--", "/nonexistent/command"])
        #expect(byPath.status == 127, "\(byPath.stderr)")
        #expect(byPath.stderr.contains("/nonexistent/command"))
    }

    @Test(arguments: [
        (SIGTERM, "TERM"), (SIGINT, "INT"), (SIGHUP, "HUP"), (SIGQUIT, "QUIT"),
        (SIGUSR1, "USR1"), (SIGUSR2, "USR2"), (SIGWINCH, "WINCH"), (SIGCONT, "CONT"),
    ])
    func signalsAreForwardedToTheChild(signal: Int32, name: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let record = directory.file("signal")
        let harness = try InitHarness.start(["--", "sh", "-c", InitHarness.trapScript(name), "sh", record])
        _ = try await harness.waitForLine(containing: "ready", timeout: .seconds(30))
        kill(harness.pid, signal)
        let status = try await harness.wait(timeout: .seconds(30))
        #expect(status == 42, "\(harness.stderr)")
        #expect(readFile(record) == "\(name)\n")
    }

    /// Orphaned grandchildren are re-parented to the init (a subreaper) and reaped.
    @Test func orphansAreReaped() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let orphanFile = directory.file("orphan")
        let script = """
            ( sleep 1 >/dev/null 2>&1 & echo $! > "$1" )
            echo ready
            exec sleep 60
            """
        let harness = try InitHarness.start(["--", "sh", "-c", script, "sh", orphanFile])
        _ = try await harness.waitForLine(containing: "ready", timeout: .seconds(30))
        let orphan = try #require(Int32(readFile(orphanFile)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        if let status = ProcFS(pid: orphan).status {
            #expect(status["PPid"] == String(harness.pid), "the orphan belongs to the init")
        }
        // The orphan exits after its `sleep 1`: from then on SPEC §5 gives the init a second
        // (stretched by RELAY_INIT_TEST_TIME_SCALE, as every bound here) to reap it.
        let exited = await eventually(timeout: .seconds(15)) {
            guard let state = ProcFS(pid: orphan).status?["State"] else { return true }
            return state.hasPrefix("Z")
        }
        #expect(exited, "the orphan exited")
        #expect(await eventually(timeout: .seconds(1)) { ProcFS(pid: orphan).status == nil }, "reaped within a second of exiting")
        #expect(ProcFS.zombieChildren(of: harness.pid).isEmpty)

        harness.terminate(signal: SIGTERM)
        #expect(try await harness.wait(timeout: .seconds(30)) == 143)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSidecarStopsWithZero(signal: Int32) async throws {
        let harness = try InitHarness.start([])
        _ = try await harness.waitForLine(containing: "waiting", timeout: .seconds(30))
        // Not a stop signal: ignored, there is no child to forward it to.
        kill(harness.pid, SIGUSR1)
        kill(harness.pid, signal)
        #expect(try await harness.wait(timeout: .seconds(30)) == 0, "\(harness.stderr)")
        #expect(harness.stdout.contains("stopped by signal \(signal)"), "\(harness.stdout)")
    }

    /// Nothing blocked, and none of the signals the init blocks or ignores (SIGTTIN, SIGTTOU)
    /// left ignored. (glibc's posix_spawn leaves its two internal signals, 32 and 33, ignored:
    /// not ours to change.)
    @Test func theChildStartsWithAnEmptyMaskAndDefaultSignals() async throws {
        let result = try await InitHarness.run(["--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
        #expect(result.status == 0, "\(result.stderr)")
        let masks = Dictionary(uniqueKeysWithValues: result.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) ?? .max)
        })
        #expect(masks["SigBlk"] == 0, "\(result.stdout)")
        let ours: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGCHLD, SIGTTIN, SIGTTOU, SIGPIPE]
        let oursMask = ours.reduce(UInt64(0)) { $0 | (1 << UInt64($1 - 1)) }
        #expect((masks["SigIgn"] ?? .max) & oursMask == 0, "\(result.stdout)")
    }
}
