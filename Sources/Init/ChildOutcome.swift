#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child ended.
public enum ChildOutcome: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Decodes a `waitpid` status (the W* macros are not visible from Swift).
    init(waitStatus status: Int32) {
        let signal = status & 0x7F
        self = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }

    /// What relay-init exits with when this was its command.
    public var exitStatus: ExitStatus {
        switch self {
        case .exited(let code): return .childExited(code)
        case .signaled(let signal): return .killedBySignal(signal)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        }
    }
}
