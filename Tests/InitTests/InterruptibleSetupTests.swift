import Foundation
import TestSupport
import Testing

/// A stop signal during set-up, through `init-harness`, whose set-up prepares and then
/// commits, each phase until a file given by the test exists.
@Suite struct InterruptibleSetupTests {
    /// Whether `signal` is pending for the process `pid` as a whole (not yet taken by sigtimedwait).
    static func isPending(_ signal: Int32, pid: Int32) -> Bool {
        guard let mask = ProcFS(pid: pid).status?["ShdPnd"].flatMap({ UInt64($0, radix: 16) }) else { return false }
        return mask & (1 << UInt64(signal - 1)) != 0
    }

    @Test(arguments: [SIGTERM, SIGINT, SIGHUP, SIGQUIT])
    func aStopWhilePreparingAbandonsSetUpAtOnce(signal: Int32) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let marker = directory.file("ran")
        // Preparing never ends by itself: only the stop can end the run.
        let harness = try InitHarness.start(["--prepare-until", directory.file("never"), "--", "touch", marker])
        _ = try await harness.waitForLine(containing: "preparing", timeout: .seconds(30))
        kill(harness.pid, signal)
        #expect(try await harness.wait(timeout: .seconds(30)) == 128 + signal, "\(harness.stderr)")
        #expect(harness.stdout.contains("stopped by signal \(signal) during set-up; committed: false"), "\(harness.stdout)")
        #expect(!harness.stdout.contains("committing"))
        #expect(!FileManager.default.fileExists(atPath: marker), "the command did not run")
    }

    @Test func aStopWhileCommittingWaitsForTheCommit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let marker = directory.file("ran")
        let commitDone = directory.file("commit-done")
        let harness = try InitHarness.start(["--commit-until", commitDone, "--", "touch", marker])
        _ = try await harness.waitForLine(containing: "committing", timeout: .seconds(30))
        kill(harness.pid, SIGTERM)
        // Once the main thread has taken the signal, it is waiting for the commit to end.
        #expect(await eventually(timeout: .seconds(30)) { !Self.isPending(SIGTERM, pid: harness.pid) })
        #expect(harness.exitStatus == nil, "still committing: \(harness.stdout)")
        #expect(FileManager.default.createFile(atPath: commitDone, contents: nil))
        #expect(try await harness.wait(timeout: .seconds(30)) == 143, "\(harness.stderr)")
        #expect(harness.stdout.contains("committed\n"))
        #expect(harness.stdout.contains("stopped by signal 15 during set-up; committed: true"), "\(harness.stdout)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the command did not run")
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSidecarStoppedWhilePreparingExitsZero(signal: Int32) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let harness = try InitHarness.start(["--prepare-until", directory.file("never")])
        _ = try await harness.waitForLine(containing: "preparing", timeout: .seconds(30))
        kill(harness.pid, signal)
        #expect(try await harness.wait(timeout: .seconds(30)) == 0, "\(harness.stderr)")
    }

    @Test func setUpThatEndsWithoutAStopRunsTheCommand() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ready = directory.file("ready")
        #expect(FileManager.default.createFile(atPath: ready, contents: nil))
        let result = try await InitHarness.run(["--prepare-until", ready, "--commit-until", ready, "--", "sh", "-c", "exit 9"])
        #expect(result.status == 9, "\(result.stderr)")
        #expect(result.stdout.contains("committed\n"))
    }
}
