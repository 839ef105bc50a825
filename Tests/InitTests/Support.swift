import Foundation
import TestSupport

/// Runs the `init-harness` executable: Init alone as a process's init (see its main.swift).
enum InitHarness {
    static var path: String { Binaries.path("init-harness") }

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessResult {
        try await TestProcess.run(self.path, arguments, environment: TestProcess.minimalEnvironment(environment), timeout: scaled(.seconds(60)))
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

/// `duration` times RELAY_INIT_TEST_TIME_SCALE (default 1; sanitizer runs set it higher).
func scaled(_ duration: Duration) -> Duration {
    let scale = ProcessInfo.processInfo.environment["RELAY_INIT_TEST_TIME_SCALE"].flatMap(Double.init) ?? 1
    return duration * max(scale, 1)
}

/// Polls `condition` until it holds or `timeout` (scaled) passes; for states no event
/// announces (a zombie in /proc, a signal taken off the pending set). Returns whether it held.
func eventually(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + scaled(timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// Fields of /proc/PID/status (`State`, `PPid`, `ShdPnd`, …), or nil when the process is gone.
func procStatus(_ pid: Int32) -> [String: String]? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 1)
        if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
    }
    return fields
}

/// Zombie children of `parent`, from /proc.
func zombieChildren(of parent: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let status = procStatus(pid) else { return false }
        return status["PPid"] == String(parent) && status["State"]?.hasPrefix("Z") == true
    }
}

func readFile(_ path: String) -> String? {
    try? String(contentsOfFile: path, encoding: .utf8)
}
