// Init alone as a process's init, for Tests/InitTests: what relay-init does around its
// proxy, without the proxy. Lines on stdout mark the set-up phases for the tests to await.
//
//     init-harness [--prepare-until FILE] [--commit-until FILE] [-- COMMAND [ARG...]]
//
// With either option, a set-up (InterruptibleSetup) runs first: it prepares (until FILE
// exists; a stop signal abandons it), then commits (until FILE exists; a stop signal waits
// for it). Then the
// command is spawned and supervised, or, with no command, the harness waits for SIGTERM or
// SIGINT like a sidecar. The exit status is Init's `ExitStatus`.
import Init
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// First, before anything can start a thread.
let supervisor = Supervisor.takeOver()
var logger = Logger(label: "init-harness")
logger.logLevel = .info
supervisor.becomeSubreaper(logger: logger)

func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(STDOUT_FILENO, $0, strlen($0)) }
}

func finish(_ status: ExitStatus) -> Never {
    exit(status.code)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var prepareUntil: String?
var commitUntil: String?
while let first = arguments.first, first != "--" {
    switch (first, arguments.count >= 2 ? arguments[1] : nil) {
    case ("--prepare-until", let file?): prepareUntil = file
    case ("--commit-until", let file?): commitUntil = file
    default:
        say("usage: init-harness [--prepare-until FILE] [--commit-until FILE] [-- COMMAND [ARG...]]")
        finish(.usage)
    }
    arguments.removeFirst(2)
}
let command = Array(arguments.dropFirst())
let isSidecar = command.isEmpty

/// Set-up's stand-in for work: returns once `file` exists.
@Sendable func waitForFile(_ file: String?) {
    while let file, access(file, F_OK) != 0 { usleep(10_000) }
}

if prepareUntil != nil || commitUntil != nil {
    let (prepareUntil, commitUntil) = (prepareUntil, commitUntil)
    let setup = InterruptibleSetup<Bool>()
    let outcome = setup.run(stopSignals: isSidecar ? Supervisor.stopSignals : Supervisor.stopRequestSignals) { setup in
        say("preparing")
        waitForFile(prepareUntil)
        guard setup.beginCommit() else { return false }
        say("committing")
        waitForFile(commitUntil)
        say("committed")
        return true
    }
    if case .stopped(let signal, let committed) = outcome {
        say("stopped by signal \(signal) during set-up; committed: \(committed ?? false)")
        finish(isSidecar ? .sidecarStopped : .killedBySignal(signal))
    }
}

if isSidecar {
    say("waiting")
    let signal = supervisor.waitForStopSignal(logger: logger)
    say("stopped by signal \(signal)")
    finish(.sidecarStopped)
}
if let signal = supervisor.takePendingStopRequest() {
    say("stopped by signal \(signal) before the command")
    finish(.killedBySignal(signal))
}
var environment: [String] = []
var entry = environ
while let variable = entry.pointee {
    environment.append(String(cString: variable))
    entry += 1
}
do {
    let child = try supervisor.spawn(command, environment: environment, searchPath: getenv("PATH").map { String(cString: $0) })
    finish(supervisor.supervise(child: child, logger: logger).exitStatus)
} catch {
    logger.error("\(error)")
    finish(error.exitStatus)
}
