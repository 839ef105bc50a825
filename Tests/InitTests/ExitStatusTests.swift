import Testing

@testable import Init

/// SPEC §8, written out: the codes are the contract, not whatever `ExitStatus` computes.
@Suite struct ExitStatusTests {
    @Test func everyCodeOfSPECSection8() {
        #expect(ExitStatus.childExited(0).code == 0)
        #expect(ExitStatus.childExited(3).code == 3)
        #expect(ExitStatus.childExited(255).code == 255)
        #expect(ExitStatus.killedBySignal(9).code == 137)
        #expect(ExitStatus.killedBySignal(15).code == 143)
        #expect(ExitStatus.killedBySignal(2).code == 130)
        #expect(ExitStatus.usage.code == 64)
        #expect(ExitStatus.setupFailed.code == 69)
        #expect(ExitStatus.cannotExecute.code == 126)
        #expect(ExitStatus.notFound.code == 127)
        #expect(ExitStatus.sidecarStopped.code == 0)
    }

    @Test func aWaitStatusBecomesTheChildsCodeOr128PlusTheSignal() {
        // waitpid's encoding: exit code in bits 8–15, terminating signal in bits 0–6.
        #expect(ChildOutcome(waitStatus: 3 << 8) == .exited(3))
        #expect(ChildOutcome(waitStatus: 3 << 8).exitStatus.code == 3)
        #expect(ChildOutcome(waitStatus: 0) == .exited(0))
        #expect(ChildOutcome(waitStatus: 9) == .signaled(9))
        #expect(ChildOutcome(waitStatus: 9).exitStatus.code == 137)
        // A core dump flag (0x80) does not change the signal.
        #expect(ChildOutcome(waitStatus: 0x80 | 11).exitStatus.code == 139)
    }

    @Test func aCommandThatCannotStartIs127Or126() {
        #expect(SpawnError(command: "x", reason: .notFound(searchedPath: "/bin")).exitStatus.code == 127)
        #expect(SpawnError(command: "x", reason: .notFound(searchedPath: nil)).exitStatus.code == 127)
        #expect(SpawnError(command: "x", reason: .notExecutable(path: "/x", detail: "permission denied")).exitStatus.code == 126)
    }
}
