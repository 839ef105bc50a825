import Foundation
import TestSupport

/// Runs the `init-harness` executable: Init alone as a process's init (see its main.swift).
enum InitHarness {
    static var path: String { Binaries.path("init-harness") }

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
        try await TestProcess.run(self.path, arguments, environment: TestProcess.minimalEnvironment(environment), timeout: .seconds(60))
    }

    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> RunningProcess {
        try TestProcess.start(self.path, arguments, environment: TestProcess.minimalEnvironment(environment))
    }

    /// A child shell that traps `signal`, records it in the file given as `$1` and exits 42.
    static func trapScript(_ name: String) -> String {
        """
        trap 'echo "\(name)" > "$1"; kill $pid 2>/dev/null; exit 42' \(name)
        sleep 60 >/dev/null 2>&1 &
        pid=$!
        echo ready
        wait $pid
        """
    }
}
