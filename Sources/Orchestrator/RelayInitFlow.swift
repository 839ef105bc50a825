import Init
import Logging
import NIOCore
import Relay

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What relay-init does once its options are settled (SPEC §3, §5): set the proxy up (or fall
/// open), hand the command to the init (`Supervisor`) or idle as a sidecar, then tear down
/// and report the exit status.
struct RelayInitFlow {
    var settings: Settings
    /// `NAME=value` strings as relay-init received them.
    var inheritedEnvironment: [String]
    var supervisor: Supervisor
    var logger: Logger

    /// Stopping the relay after the child exits: close at once, the tunnels' client is gone.
    static let childExitGrace = TimeAmount.zero
    /// Stopping a sidecar: open tunnels get this long to finish.
    static let sidecarGrace = TimeAmount.seconds(5)

    /// Runs everything and returns relay-init's exit status, after one summary line.
    func run() -> ExitStatus {
        let (status, totals) = self.runUntilExit()
        var line = "exiting with status \(status.code)"
        if let totals {
            line += "; relay: \(totals)"
        }
        self.logger.info("\(line)")
        return status
    }

    private func runUntilExit() -> (status: ExitStatus, relayTotals: RelayTotals?) {
        let environment = ProcessEnvironment.dictionary(self.inheritedEnvironment)
        let setup = InterruptibleSetup<Result<ActiveProxy, SetupError>>()
        let stopSignals = self.settings.isSidecar ? Supervisor.stopSignals : Supervisor.stopRequestSignals
        let (settings, logger) = (self.settings, self.logger)
        let outcome = setup.run(stopSignals: stopSignals) { setup in
            var proxySetup = ProxySetup(settings: settings, environment: environment, logger: logger)
            proxySetup.beginCommit = { setup.beginCommit() }
            return Result { () throws(SetupError) in try proxySetup.run() }
        }
        let setupResult: Result<ActiveProxy, SetupError>
        switch outcome {
        case .finished(let result):
            setupResult = result
        case .stopped(let signal, let result):
            // Stopped before the command ran: a sidecar stops as on any SIGTERM, a wrapper as
            // its command would have.
            self.logger.notice("received signal \(signal) during set-up; stopping")
            let totals = self.tearDown(try? result?.get(), grace: .zero)
            return (self.settings.isSidecar ? .sidecarStopped : .killedBySignal(signal), totals)
        }

        let proxy: ActiveProxy?
        do {
            proxy = try setupResult.get()
        } catch {
            if self.settings.isSidecar || self.settings.failClosed {
                let why = self.settings.isSidecar ? "sidecar mode has no command to run unproxied" : "--fail-closed"
                self.logger.error("setup failed, exiting \(ExitStatus.setupFailed.code) (\(why)): \(error.description)")
                return (.setupFailed, nil)
            }
            // Fail open: one warning line, an env file that says so, the command unproxied.
            self.logger.warning("proxy disabled, running the command without it: \(error.description)")
            do {
                try EnvFile.write(EnvFile.renderDisabled(cause: error.description), to: self.settings.envFile)
            } catch {
                self.logger.warning("could not write the env file: \(error)")
            }
            proxy = nil
        }

        if self.settings.isSidecar, let proxy {
            return self.runSidecar(proxy)
        }
        return self.runCommand(proxy: proxy, environment: environment)
    }

    private func runCommand(proxy: ActiveProxy?, environment: [String: String]) -> (ExitStatus, RelayTotals?) {
        if let signal = self.supervisor.takePendingStopRequest() {
            self.logger.notice("received signal \(signal) during set-up; not starting '\(self.settings.command[0])'")
            return (.killedBySignal(signal), self.tearDown(proxy, grace: Self.childExitGrace))
        }
        let childEnvironment = ProxyEnvironment.childEnvironment(inherited: self.inheritedEnvironment, adding: proxy?.variables ?? [])
        let child: pid_t
        do {
            child = try self.supervisor.spawn(self.settings.command, environment: childEnvironment, searchPath: environment["PATH"])
        } catch {
            self.logger.error("\(error)")
            return (error.exitStatus, self.tearDown(proxy, grace: Self.childExitGrace))
        }
        self.logger.debug("started '\(self.settings.command[0])' as pid \(child)")
        let outcome = self.supervisor.supervise(child: child, logger: self.logger)
        self.logger.debug("'\(self.settings.command[0])' \(outcome)")
        return (outcome.exitStatus, self.tearDown(proxy, grace: Self.childExitGrace))
    }

    private func runSidecar(_ proxy: ActiveProxy) -> (ExitStatus, RelayTotals?) {
        let signal = self.supervisor.waitForStopSignal(logger: self.logger)
        self.logger.info("received signal \(signal), stopping: open tunnels get up to 5 s")
        return (.sidecarStopped, self.tearDown(proxy, grace: Self.sidecarGrace))
    }

    /// Stops the relay (bounded, so a stuck tunnel cannot keep relay-init alive) and removes
    /// the env file, whose port is dead from now on. Returns the relay's totals, if it ran.
    private func tearDown(_ proxy: ActiveProxy?, grace: TimeAmount) -> RelayTotals? {
        if let relay = proxy?.relay {
            let bound = Duration.nanoseconds(grace.nanoseconds) + .seconds(2)
            if Blocking.wait(timeout: bound, { await relay.shutdown(gracePeriod: grace) }) == nil {
                self.logger.warning("the relay did not stop within \(bound); exiting anyway")
            }
        }
        do {
            try EnvFile.remove(at: self.settings.envFile)
        } catch {
            self.logger.warning("could not remove the env file: \(error)")
        }
        return proxy?.relay.totals
    }
}
