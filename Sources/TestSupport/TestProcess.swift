import Foundation

/// How a finished process ended and what it printed.
public struct ProcessResult: Sendable, Equatable {
    /// The exit code, or `128 + N` when killed by signal N (as a shell reports it).
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// For a failure message: the status, both outputs, then any other logs (`name`, text).
    public func report(_ logs: (name: String, text: String)...) -> String {
        "status \(self.status)\n" + reportSections([("stdout", self.stdout), ("stderr", self.stderr)] + logs)
    }
}

/// `--- NAME ---` then the text, for each section, one after the other.
func reportSections(_ sections: [(name: String, text: String)]) -> String {
    sections.map { "--- \($0.name) ---\n\($0.text)" }.joined(separator: "\n")
}

public enum TestProcessError: Error, CustomStringConvertible {
    case executableNotFound(String)
    case launchFailed(command: String, reason: String)
    /// The deadline passed; the process (for `run`) was killed.
    case timedOut(command: String, waitingFor: String, after: Duration, stdout: String, stderr: String)
    /// The process ended before printing the awaited line.
    case exited(command: String, status: Int32, waitingFor: String, stdout: String, stderr: String)

    public var description: String {
        switch self {
        case .executableNotFound(let name):
            return "executable not found: \(name) (not a path and not on PATH)"
        case .launchFailed(let command, let reason):
            return "cannot start \(command): \(reason)"
        case .timedOut(let command, let what, let after, let stdout, let stderr):
            return "timed out after \(after) waiting for \(what) from \(command)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
        case .exited(let command, let status, let what, let stdout, let stderr):
            return "\(command) exited with \(status) before \(what)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
        }
    }
}

/// Runs real executables from tests, with output captured and deadlines enforced.
///
/// Children start clean whatever thread the test runs on: no blocked signals,
/// default dispositions, only fds 0–2 open, in a process group of their own
/// (see `CleanSpawn`), so signal and reaping behaviour is the program's own.
public enum TestProcess {
    /// Runs a command to completion.
    ///
    /// stdout and stderr are drained on their own threads while the process
    /// runs, so output larger than a pipe buffer cannot deadlock it. When
    /// `timeout` (stretched by ``TestTime/scale``) passes first the process
    /// (and its process group) is killed with SIGKILL and
    /// ``TestProcessError/timedOut(command:waitingFor:after:stdout:stderr:)`` is thrown.
    ///
    /// - Parameters:
    ///   - executable: a path, or a bare name looked up on `PATH`.
    ///   - environment: the complete environment; `nil` inherits the test's.
    ///   - stdin: bytes to feed the process; `nil` gives it `/dev/null`.
    public static func run(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String]? = nil,
        stdin: Data? = nil,
        currentDirectory: String? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> ProcessResult {
        let process = try start(
            executable, arguments, environment: environment, stdin: stdin, currentDirectory: currentDirectory
        )
        do {
            return try await withTimeout(timeout, waitingFor: "exit") {
                let status = try await process.waitForExit()
                return ProcessResult(status: status, stdout: process.stdout, stderr: process.stderr)
            }
        } catch is TestTimeoutError {
            process.terminate(signal: SIGKILL, processGroup: true)
            throw TestProcessError.timedOut(
                command: process.command, waitingFor: "exit", after: TestTime.scaled(timeout),
                stdout: process.stdout, stderr: process.stderr
            )
        }
    }

    /// Starts a long-running command and returns at once. See ``RunningProcess``.
    public static func start(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String]? = nil,
        stdin: Data? = nil,
        currentDirectory: String? = nil
    ) throws -> RunningProcess {
        try RunningProcess(
            executable: resolve(executable), arguments: arguments,
            environment: environment, stdin: stdin, currentDirectory: currentDirectory
        )
    }

    /// A small, predictable environment: `PATH`, `HOME`, `LANG` and any sanitizer
    /// options from the test's own, plus `extra`. Keeps proxy and CA variables of the machine
    /// running the tests (`HTTPS_PROXY`, `SSL_CERT_FILE`, …) out of the child.
    public static func minimalEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        // The sanitizer options too: under scripts/sanitize.sh the binaries a test starts are
        // instrumented, and must report (and not report) as the test runner does.
        for name in ["PATH", "HOME", "LANG", "TSAN_OPTIONS", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"] {
            environment[name] = inherited[name]
        }
        environment["PATH"] = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return environment.merging(extra) { _, new in new }
    }

    private static func resolve(_ executable: String) throws -> String {
        if executable.contains("/") {
            return executable
        }
        guard let path = Tools.which(executable) else {
            throw TestProcessError.executableNotFound(executable)
        }
        return path
    }
}

/// A started process: its pid, the output it has printed so far, and ways to
/// wait for it. If the handle is dropped while the process still runs, the
/// process is killed, so a failing test cannot leak it.
public final class RunningProcess: Sendable {
    public let pid: Int32
    /// The command line, for messages.
    public let command: String
    private let state: Waitable<Output>

    /// Everything known about the process, updated by the pipe reader
    /// threads and the thread waiting for its exit.
    struct Output {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var openStreams = 2
        var exitStatus: Int32?

        /// Exited and both pipes at EOF: nothing more will change.
        var isFinished: Bool { exitStatus != nil && openStreams == 0 }
    }

    init(
        executable: String,
        arguments: [String],
        environment: [String: String]?,
        stdin: Data?,
        currentDirectory: String?
    ) throws {
        let command = ([executable] + arguments).joined(separator: " ")
        // Close-on-exec everywhere: the child gets its ends through dup2, and
        // no other child started meanwhile inherits them.
        let stdoutPipe = try Self.makePipe()
        let stderrPipe = try Self.makePipe()
        let stdinPipe = try stdin.map { _ in try Self.makePipe() }
        let pid: pid_t
        do {
            pid = try CleanSpawn.start(
                executable: executable,
                arguments: arguments,
                environment: environment ?? ProcessInfo.processInfo.environment,
                currentDirectory: currentDirectory,
                stdin: stdinPipe?.read,
                stdout: stdoutPipe.write,
                stderr: stderrPipe.write
            )
        } catch {
            for fd in [stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write] {
                close(fd)
            }
            if let stdinPipe {
                close(stdinPipe.read)
                close(stdinPipe.write)
            }
            switch error {
            case .notFound:
                throw TestProcessError.executableNotFound(executable)
            case .failed(let code):
                throw TestProcessError.launchFailed(command: command, reason: String(cString: strerror(code)))
            }
        }
        // Our copies of the child's ends must go, or the readers never see EOF.
        close(stdoutPipe.write)
        close(stderrPipe.write)
        if let stdinPipe {
            close(stdinPipe.read)
        }

        let state = Waitable(Output())
        self.pid = pid
        self.command = command
        self.state = state

        PipeThreads.drain(stdoutPipe.read, into: state, \.stdout)
        PipeThreads.drain(stderrPipe.read, into: state, \.stderr)
        if let stdin, let stdinPipe {
            PipeThreads.feed(stdin, to: stdinPipe.write)
        }
        Thread.detachNewThread {
            // Wait without reaping, then reap under the state lock: while the
            // state says "running" the pid cannot have been reused, so
            // `terminate` never signals a stranger.
            CleanSpawn.waitUntilExited(pid)
            state.update { $0.exitStatus = CleanSpawn.reap(pid) }
        }
    }

    /// A pipe whose ends are close-on-exec (`pipe2` is not imported on Linux;
    /// the window before `fcntl` only matters to spawners that leak fds anyway).
    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw TestProcessError.launchFailed(command: "pipe", reason: String(cString: strerror(errno)))
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }

    deinit {
        // Its whole process group: a leaked test process should not leave helpers behind either.
        terminate(signal: SIGKILL, processGroup: true)
    }

    /// Standard output so far (complete once ``wait()`` has returned).
    public var stdout: String {
        state.read { String(decoding: $0.stdout, as: UTF8.self) }
    }

    /// Standard error so far (complete once ``wait()`` has returned).
    public var stderr: String {
        state.read { String(decoding: $0.stderr, as: UTF8.self) }
    }

    /// The exit status if the process has exited (`128 + N` for signal N), else nil.
    public var exitStatus: Int32? {
        state.read { $0.exitStatus }
    }

    /// Sends `signal` to the process, or with `processGroup` to the process
    /// group it leads (every process starts in its own group, so that also
    /// reaches helpers it started, unless they moved to groups of their own).
    /// Does nothing once the process has exited.
    public func terminate(signal: Int32 = SIGTERM, processGroup: Bool = false) {
        state.read { output in
            if output.exitStatus == nil {
                kill(processGroup ? -pid : pid, signal)
            }
        }
    }

    /// Waits for the first complete line, on stdout or stderr, that contains
    /// `text`, and returns it (without the newline). Lines printed before the
    /// call count too, so there is no race with a fast process.
    ///
    /// Throws ``TestProcessError/exited(command:status:waitingFor:stdout:stderr:)``
    /// as soon as the process ends without such a line, and
    /// ``TestProcessError/timedOut(command:waitingFor:after:stdout:stderr:)``
    /// (leaving the process running) when `timeout` passes.
    @discardableResult
    public func waitForLine(containing text: String, timeout: Duration = .seconds(10)) async throws -> String {
        let what = "a line containing \"\(text)\""
        let command = command
        do {
            let outcome = try await withTimeout(timeout, waitingFor: what) {
                try await self.state.wait { output -> Result<String, TestProcessError>? in
                    if let line = Self.firstLine(containing: text, in: output) {
                        return .success(line)
                    }
                    guard output.isFinished, let status = output.exitStatus else { return nil }
                    return .failure(.exited(
                        command: command, status: status, waitingFor: what,
                        stdout: String(decoding: output.stdout, as: UTF8.self),
                        stderr: String(decoding: output.stderr, as: UTF8.self)
                    ))
                }
            }
            return try outcome.get()
        } catch is TestTimeoutError {
            throw TestProcessError.timedOut(command: command, waitingFor: what, after: TestTime.scaled(timeout), stdout: stdout, stderr: stderr)
        }
    }

    /// Waits for the process to exit and returns its status (`128 + N` for
    /// signal N). Returns -1 at once if the calling task is cancelled.
    public func wait() async -> Int32 {
        (try? await waitForExit()) ?? -1
    }

    /// ``wait()`` with a deadline; on timeout the process is left running.
    public func wait(timeout: Duration) async throws -> Int32 {
        do {
            return try await withTimeout(timeout, waitingFor: "exit") { try await self.waitForExit() }
        } catch is TestTimeoutError {
            throw TestProcessError.timedOut(command: command, waitingFor: "exit", after: TestTime.scaled(timeout), stdout: stdout, stderr: stderr)
        }
    }

    /// Exit status, once the process has exited and its output is complete.
    ///
    /// A descendant that inherited the pipes can keep them open after the
    /// process itself exited; output is then awaited for at most
    /// `outputGrace`, so one stray grandchild cannot hang a test.
    func waitForExit(outputGrace: Duration = .seconds(2)) async throws -> Int32 {
        let status = try await state.wait { $0.exitStatus }
        _ = try? await withTimeout(outputGrace, waitingFor: "end of output") {
            try await self.state.wait { $0.openStreams == 0 ? () : nil }
        }
        return status
    }

    private static func firstLine(containing text: String, in output: Output) -> String? {
        for bytes in [output.stdout, output.stderr] {
            var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            // The last piece is a line only when the stream has ended (`lines` ends with "" after a newline).
            if output.openStreams > 0 || output.exitStatus == nil {
                lines.removeLast()
            }
            if let line = lines.first(where: { $0.contains(text) }) {
                return String(line.hasSuffix("\r") ? line.dropLast() : line)
            }
        }
        return nil
    }
}

/// The threads that move bytes through a child's pipes. Plain threads with
/// blocking `read`/`write`: simple, and a few per test are cheap.
private enum PipeThreads {
    static func drain(
        _ fd: Int32,
        into state: Waitable<RunningProcess.Output>,
        _ stream: WritableKeyPath<RunningProcess.Output, [UInt8]> & Sendable
    ) {
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    state.update { $0[keyPath: stream].append(contentsOf: buffer[0..<count]) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break  // EOF, or an error that ends this stream just the same
                }
            }
            close(fd)
            state.update { $0.openStreams -= 1 }
        }
    }

    static func feed(_ data: Data, to fd: Int32) {
        Thread.detachNewThread {
            // A child that exits without reading all its input would raise
            // SIGPIPE, which kills the whole test process by default. Blocked
            // in this thread only, it becomes a plain EPIPE from write(2).
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)

            data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                guard let base = bytes.baseAddress else { return }
                var offset = 0
                while offset < bytes.count {
                    let written = write(fd, base + offset, bytes.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
            close(fd)
        }
    }
}

extension RunningProcess {
    /// For a failure message: the command, its status so far, both outputs, then any other logs.
    public func report(_ logs: (name: String, text: String)...) -> String {
        "\(self.command)\nstatus \(self.exitStatus.map(String.init) ?? "running")\n"
            + reportSections([("stdout", self.stdout), ("stderr", self.stderr)] + logs)
    }
}
