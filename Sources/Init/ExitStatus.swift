/// relay-init's exit status: every code of SPEC §8, and the one place that turns a signal
/// number into 128 + N.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    /// The child exited with this code.
    case childExited(Int32)
    /// The child was killed by signal N: 128 + N, the shell's convention. Also the status of a
    /// wrapper stopped by signal N before it started its child: it ends as the child would have.
    case killedBySignal(Int32)
    /// Bad usage (EX_USAGE; the argument parser's `ValidationError` exits with it too).
    case usage
    /// Set-up failed with `--fail-closed`, or in sidecar mode (EX_UNAVAILABLE).
    case setupFailed
    /// The command was found but cannot be executed.
    case cannotExecute
    /// The command was not found.
    case notFound
    /// A sidecar stopped by SIGTERM or SIGINT.
    case sidecarStopped

    /// The process exit code.
    public var code: Int32 {
        switch self {
        case .childExited(let code): return code
        case .killedBySignal(let signal): return 128 + signal
        case .usage: return 64
        case .setupFailed: return 69
        case .cannotExecute: return 126
        case .notFound: return 127
        case .sidecarStopped: return 0
        }
    }

    public var description: String { String(self.code) }
}
