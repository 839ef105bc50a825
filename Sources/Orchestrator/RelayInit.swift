import ArgumentParser
import CSystemShims
import Init
import Logging

#if canImport(Glibc)
import Glibc
/// The C library's `exit` (inside a `ParsableCommand`, `exit` is the parser's).
private let processExit = Glibc.exit
#elseif canImport(Musl)
import Musl
private let processExit = Musl.exit
#endif
import RelayLogging

/// The `relay-init` command: parses, validates, then hands over to `RelayInitFlow`.
public struct RelayInit: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "relay-init",
        abstract: "Run a command behind a local CONNECT relay to an upstream proxy gateway, as its init.",
        usage: """
            relay-init [OPTIONS] -- COMMAND [ARG...]
            relay-init [OPTIONS]
            """,
        discussion: """
            relay-init reads the session token, fetches the gateway's CA certificate, starts a \
            relay on 127.0.0.1 that carries CONNECT tunnels over a WebSocket to the gateway, writes \
            an env file, and runs the command with HTTPS_PROXY, NO_PROXY and the CA bundle variables \
            set. It forwards signals to the command, reaps zombies, and exits with the command's status.

            Wrap a command:
              relay-init --gateway https://gw.example --session-id S1 -- npm install

            As a container ENTRYPOINT (PID 1), configured by environment variables:
              ENV RELAY_INIT_GATEWAY=https://gw.example RELAY_INIT_SESSION_ID=S1
              ENTRYPOINT ["relay-init", "--"]
              CMD ["npm", "install"]

            As a sidecar (no command: relay until SIGTERM/SIGINT), for other processes:
              relay-init --gateway https://gw.example --session-id S1 \\
                --listen 127.0.0.1:3128
              . /run/relay-init/proxy.env    # then, in any sh, bash or zsh

            Every option also reads the environment variable named in its help: a flag wins over \
            the variable, the variable over the default. The token comes from RELAY_INIT_TOKEN if it \
            is set and not blank, else from --token-url if given, else from --token-file; it is never \
            logged, written to a file or passed to the command.

            If setup fails (no gateway, session id or token, unreachable gateway…), the command runs \
            without the proxy after one warning, and the env file says "disabled"; with --fail-closed \
            relay-init exits 69 instead (always, in sidecar mode).

            Exit status: the command's; 128+N when it was killed by signal N; 64 bad usage; 69 setup \
            failed with --fail-closed or in sidecar mode; 126 command not executable; 127 command not \
            found; 0 when a sidecar is stopped by SIGTERM or SIGINT.
            """,
        version: RelayInit.version
    )

    @OptionGroup public var options: Options

    public init() {}

    /// Flags and variables are checked before anything runs, so bad usage exits 64 with the
    /// argument parser's usage text whether the bad value came from a flag or a variable.
    public func validate() throws {
        do {
            _ = try Settings.resolve(self.options, environment: ProcessEnvironment.dictionary(ProcessEnvironment.current()))
        } catch {
            throw ValidationError(error.message)
        }
    }

    public func run() throws {
        // First, before anything can start a thread (see Supervisor.takeOver).
        let supervisor = Supervisor.takeOver()
        let inheritedEnvironment = ProcessEnvironment.current()
        let settings: Settings
        do {
            settings = try Settings.resolve(self.options, environment: ProcessEnvironment.dictionary(inheritedEnvironment))
        } catch {
            throw ValidationError(error.message)
        }
        settings.logFormat.bootstrap(level: settings.logLevel)
        let logger = Logger(label: "relay-init")
        Self.keepSecretsOutOfCoreDumps(logger: logger)
        supervisor.becomeSubreaper(logger: logger)

        let flow = RelayInitFlow(settings: settings, inheritedEnvironment: inheritedEnvironment, supervisor: supervisor, logger: logger)
        let status = flow.run()
        // Straight out: `throw ExitCode(status)` would have the argument parser build its help
        // text to format an error that has no message (a profile of start-up showed it at a sixth of
        // the time spent in relay-init's own code).
        fflush(nil)
        processExit(status.code)
    }

    /// `PR_SET_DUMPABLE 0` keeps the token out of core dumps and /proc/PID/mem of other users.
    private static func keepSecretsOutOfCoreDumps(logger: Logger) {
        if relay_prctl(PR_SET_DUMPABLE, 0) != 0 {
            logger.warning("prctl(PR_SET_DUMPABLE, 0) failed: \(Errno(errno)); a core dump could hold the token")
        }
    }
}
