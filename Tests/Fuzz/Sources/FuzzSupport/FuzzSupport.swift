import CLibFuzzer

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's per-input callback: the input's bytes; returns 0.
public typealias FuzzTestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

/// Hands the process to libFuzzer, which parses the command line (`-max_total_time=`, corpus
/// directories, reproducer files) and calls `test` once per input.
///
/// SwiftPM links every executable with its own `main`, which wins over the one in
/// libclang_rt.fuzzer; so the targets call the driver themselves instead of relying on it.
public func runLibFuzzer(_ test: FuzzTestOneInput) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// An invariant of the code under test. A violation traps, which libFuzzer reports as a crash
/// and saves the input for (`crash-…` under `-artifact_prefix`).
@inline(__always)
public func invariant(
    _ condition: @autoclosure () -> Bool,
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) {
    guard !condition() else { return }
    fatalError("invariant violated: \(message())", file: file, line: line)
}

extension Collection<UInt8> {
    /// `0a 80 01`, for messages about inputs.
    public var hex: String {
        self.map { byte in
            let digits = String(byte, radix: 16)
            return byte < 0x10 ? "0" + digits : digits
        }.joined(separator: " ")
    }
}
