import Foundation
import TestSupport
import Testing

/// On a terminal, the command gets its own process group and the terminal's foreground, so
/// interactive shells and Ctrl-C work as without an init. `script` provides a real pty.
@Suite(.enabled(if: Tools.which("script") != nil, "needs script(1) for a pseudo-terminal"))
struct TerminalTests {
    @Test func theCommandIsTheForegroundProcessGroup() async throws {
        // Fields 1, 5 and 8 of /proc/PID/stat: pid, process group, terminal's foreground group.
        let inner = "\(InitHarness.path) -- sh -c 'cut -d\" \" -f1,5,8 /proc/$$/stat'"
        let result = try await TestProcess.run(
            "script", ["-qec", inner, "/dev/null"],
            environment: TestProcess.minimalEnvironment(),
            timeout: .seconds(30)
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
        let result = try await InitHarness.run(["--", "sh", "-c", "cut -d' ' -f1,5 /proc/$$/stat"])
        let fields = result.stdout.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(fields.count == 2 && fields[0] == fields[1], "\(result.stdout)")
    }
}
