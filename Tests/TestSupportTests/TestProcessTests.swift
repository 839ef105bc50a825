import Foundation
import Testing
import TestSupport

@Suite struct TestProcessTests {
    @Test func capturesOutputAndExitCode() async throws {
        let result = try await TestProcess.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(10))
        #expect(result == ProcessResult(status: 3, stdout: "out\n", stderr: "err\n"))
    }

    @Test func signalDeathIs128PlusSignal() async throws {
        let result = try await TestProcess.run("/bin/sh", ["-c", "kill -9 $$"], timeout: .seconds(10))
        #expect(result.status == 128 + 9)
    }

    @Test func largeOutputAndStdinDoNotDeadlock() async throws {
        // 4 MiB each way: far beyond a 64 KiB pipe buffer.
        let line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_=+\n"
        let input = String(repeating: line, count: (4 << 20) / line.utf8.count)
        let result = try await TestProcess.run(
            "/bin/sh", ["-c", "cat; head -c 4194304 /dev/zero | tr '\\0' x >&2"], stdin: Data(input.utf8), timeout: .seconds(20)
        )
        #expect(result.status == 0)
        #expect(result.stdout == input)
        #expect(result.stderr.utf8.count == 4 << 20)
    }

    @Test func childStartsWithNoBlockedSignalsInTheGivenDirectory() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Test threads block most signals; a child inheriting that mask would ignore SIGTERM.
        let result = try await TestProcess.run(
            "/bin/sh", ["-c", "grep SigBlk /proc/self/status; pwd -P"], currentDirectory: directory.path, timeout: .seconds(10)
        )
        let realPath = URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path
        #expect(result.stdout == "SigBlk:\t0000000000000000\n\(realPath)\n")
    }

    @Test func childThatIgnoresStdinDoesNotKillTheTests() async throws {
        let result = try await TestProcess.run("/bin/true", stdin: Data(count: 1 << 20), timeout: .seconds(10))
        #expect(result.status == 0)
    }

    @Test func timeoutKillsTheProcess() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: TestProcessError.self) {
            _ = try await TestProcess.run("/bin/sleep", ["30"], timeout: .milliseconds(300))
        }
        // Far below the 30 s the child would take by itself: it was killed, not waited for.
        #expect(clock.now - started < TestTime.scaled(.seconds(20)))
    }

    @Test func waitForLineThenTerminate() async throws {
        let process = try TestProcess.start("/bin/sh", ["-c", "echo starting >&2; echo 'ready on 42'; exec sleep 30"])
        let line = try await process.waitForLine(containing: "ready on")
        #expect(line == "ready on 42")
        #expect(process.stderr == "starting\n")
        process.terminate()
        #expect(await process.wait() == 128 + SIGTERM)
    }

    @Test func waitForLineFailsFastWhenTheProcessExits() async throws {
        let process = try TestProcess.start("/bin/sh", ["-c", "echo bye; exit 2"])
        await #expect(throws: TestProcessError.self) {
            _ = try await process.waitForLine(containing: "never", timeout: .seconds(20))
        }
        #expect(await process.wait() == 2)
    }

    @Test func unknownExecutableIsReported() {
        #expect(throws: TestProcessError.self) {
            _ = try TestProcess.start("no-such-tool-\(UUID().uuidString)")
        }
    }
}
