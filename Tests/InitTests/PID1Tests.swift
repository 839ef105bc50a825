import Foundation
import TestSupport
import Testing

/// The init's duties as PID 1 of a fresh PID namespace, where the kernel drops signals that
/// have no handler: the init's blocked-and-waited signals must still arrive.
@Suite(.enabled(if: getuid() == 0 && Tools.which("unshare") != nil, "needs root and unshare for a PID namespace"))
struct PID1Tests {
    func start(_ command: [String]) throws -> RunningProcess {
        try TestProcess.start(
            "unshare",
            ["--pid", "--fork", "--mount-proc", InitHarness.path, "--"] + command,
            environment: TestProcess.minimalEnvironment()
        )
    }

    @Test func exitStatusPassesThrough() async throws {
        let process = try self.start(["sh", "-c", "echo pid=$PPID; exit 7"])
        #expect(try await process.wait(timeout: .seconds(30)) == 7, "\(process.stderr)")
        #expect(process.stdout.contains("pid=1"), "the init is PID 1: \(process.stdout)")
    }

    /// An orphan is reaped by PID 1: the script polls /proc (its own namespace's) until the
    /// orphan is gone, with a generous bound, then looks for any zombie left.
    @Test func orphansAreReapedAsPID1() async throws {
        let polls = Int(TestTime.scaled(seconds: 150))  // 0.1 s each
        let script = """
            orphan=$( (sleep 0.2 >/dev/null 2>&1 & echo $!) )
            i=0
            while [ -e /proc/$orphan ] && [ $i -lt \(polls) ]; do sleep 0.1; i=$((i+1)); done
            if [ -e /proc/$orphan ]; then echo "not reaped: $(grep State /proc/$orphan/status)"; else echo reaped; fi
            for status in /proc/[0-9]*/status; do
              grep -q '^State:.*Z' "$status" 2>/dev/null && echo "zombie $status"
            done
            echo checked
            """
        let process = try self.start(["sh", "-c", script])
        #expect(try await process.wait(timeout: .seconds(60)) == 0, "\(process.stderr)")
        #expect(process.stdout.contains("reaped\n"), "\(process.stdout)")
        #expect(process.stdout.contains("checked"))
        #expect(!process.stdout.contains("zombie"), "\(process.stdout)")
    }

    @Test func signalsFromOutsideReachTheChild() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let record = directory.file("signal")
        let process = try self.start(["sh", "-c", InitHarness.trapScript("TERM"), "sh", record])
        _ = try await process.waitForLine(containing: "ready", timeout: .seconds(30))
        // The init is unshare's only child; its pid in our namespace is in /proc.
        let children = readFile("/proc/\(process.pid)/task/\(process.pid)/children")?.split(separator: " ").compactMap { Int32($0) } ?? []
        let initPID = try #require(children.first)
        kill(initPID, SIGTERM)
        #expect(try await process.wait(timeout: .seconds(30)) == 42, "\(process.stderr)")
        #expect(readFile(record) == "TERM\n")
    }

    @Test func signalsFromInsideReachTheChild() async throws {
        let script = """
            trap 'echo got-usr1; kill $pid; exit 5' USR1
            sleep 60 >/dev/null 2>&1 &
            pid=$!
            kill -USR1 1
            wait $pid
            """
        let process = try self.start(["sh", "-c", script])
        #expect(try await process.wait(timeout: .seconds(30)) == 5, "\(process.stderr)")
        #expect(process.stdout.contains("got-usr1"))
    }
}
