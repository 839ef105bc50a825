import Logging
import RelayProtocol
import NIOCore
import Relay
import X509

/// Why the proxy could not be set up (SPEC §3, steps 2–6).
public enum SetupError: Error, CustomStringConvertible, Sendable {
    case missingGateway
    case missingSessionID
    case invalidSessionID
    case token(TokenError)
    case caFetch(HTTPFetchError)
    case trustStore(TrustStoreError)
    case relay(listen: ListenAddress, reason: String)
    case envFile(FileError)
    /// A stop request arrived during the fetches (see InterruptibleSetup).
    case interrupted

    public var description: String {
        switch self {
        case .missingGateway:
            return "no gateway: give --gateway URL or set RELAY_INIT_GATEWAY"
        case .missingSessionID:
            return "no session id: give --session-id ID or set RELAY_INIT_SESSION_ID"
        case .invalidSessionID:
            return "the session id holds ':' or control characters, which cannot go into Proxy-Authorization"
        case .token(let error):
            return error.description
        case .caFetch(let error):
            return "CA certificate: \(error)"
        case .trustStore(let error):
            return error.description
        case .relay(let listen, let reason):
            return "the relay cannot listen on \(listen): \(reason)"
        case .envFile(let error):
            return "env file: \(error)"
        case .interrupted:
            return "stopped by a signal during set-up"
        }
    }
}

/// The proxy once it is up: what the child gets and what to stop at exit.
public struct ActiveProxy: Sendable {
    public var relay: RunningRelay
    public var variables: [EnvironmentVariable]
}

/// SPEC §3 steps 3–6, in order: token, CA and bundle, relay, env file, token file deletion.
struct ProxySetup: Sendable {
    var settings: Settings
    var environment: [String: String]
    var logger: Logger
    /// Asked once the fetches are done, before anything is started or written: false when a
    /// stop request has abandoned set-up meanwhile.
    var beginCommit: @Sendable () -> Bool = { true }

    func run() throws(SetupError) -> ActiveProxy {
        let (webSocketURL, caURL, sessionID) = try self.requiredSettings()
        // A system bundle that is not there is only a warning (see TrustStore.writeBundle);
        // libcurl then falls back to its built-in default rather than failing on the path.
        let systemCA = self.settings.systemCA.flatMap { FileSystem.isRegularFile($0) ? $0 : nil }
        let fetcher = HTTPFetcher(caFile: systemCA, logger: self.logger)

        let source = TokenSource.choose(settings: self.settings, environment: self.environment)
        let token: String
        do {
            token = try source.read(environment: self.environment, fetcher: fetcher, logger: self.logger)
        } catch {
            throw .token(error)
        }
        self.logger.debug("token read from \(source)")

        try self.installGatewayCA(from: caURL, fetcher: fetcher, token: token)
        guard self.beginCommit() else { throw .interrupted }
        let relay = try self.startRelay(webSocketURL: webSocketURL, sessionID: sessionID, token: token)
        let variables = try self.writeEnvFile(for: relay)
        self.logger.info("relay listening on \(ProxyEnvironment.proxyURL(for: relay.localAddress)) for \(webSocketURL); env file \(self.settings.envFile), CA bundle \(self.settings.caBundle)")
        if !self.settings.listen.isLoopback {
            // SPEC §2 allows any address (`0.0.0.0` for a sidecar that other containers use);
            // the relay adds this session's credentials to every tunnel, so say so loudly.
            self.logger.warning(
                "the relay listens on \(self.settings.listen.with(port: relay.port)), not only on loopback: anyone who can reach it can tunnel with this session's credentials"
            )
        }

        if case .file(let path) = source {
            do {
                try FileSystem.remove(path)
            } catch {
                self.logger.warning("could not delete the token file: \(error)")
            }
        }
        // libcurl, OpenSSL and the bundle's bytes are done with: give their heap back.
        MemoryTrim.releaseFreeMemory()
        return ActiveProxy(relay: relay, variables: variables)
    }

    /// What set-up cannot do without. Missing, it is a setup failure rather than bad usage,
    /// so that fail-open still runs the command.
    private func requiredSettings() throws(SetupError) -> (WebSocketURL, EndpointURL, String) {
        guard self.settings.gateway != nil, let webSocketURL = self.settings.webSocketURL, let caURL = self.settings.caURL else {
            throw .missingGateway
        }
        guard let sessionID = self.settings.sessionID else { throw .missingSessionID }
        // It goes into `Basic base64(SESSION:TOKEN)`: a ':' would move the split.
        guard !sessionID.unicodeScalars.contains(where: { $0 == ":" || $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalidSessionID
        }
        return (webSocketURL, caURL, sessionID)
    }

    /// Fetches and checks the gateway CA, writes the merged bundle, and adds the CA to the
    /// OS trust store when asked.
    private func installGatewayCA(from caURL: EndpointURL, fetcher: HTTPFetcher, token: String) throws(SetupError) {
        let gatewayCA: [UInt8]
        do {
            gatewayCA = try fetcher.get(caURL)
        } catch {
            throw .caFetch(error)
        }
        do throws(TrustStoreError) {
            let certificates: [Certificate]
            do throws(TrustStoreError) {
                certificates = try TrustStore.parseCertificates(gatewayCA)
            } catch .notPEM(let count, _) {
                // The message quotes the body's start; should the server have echoed the
                // token, it is blanked out before the quote is cut to length.
                let redacted = String(decoding: gatewayCA, as: UTF8.self).replacing(token, with: "<token>")
                throw .notPEM(byteCount: count, preview: TrustStore.preview(Array(redacted.utf8)))
            }
            self.logger.debug("gateway CA: \(certificates.count) certificate(s) from \(caURL)")
            try TrustStore.writeBundle(gatewayCA: gatewayCA, systemCA: self.settings.systemCA, to: self.settings.caBundle, logger: self.logger)
            if self.settings.installSystemTrust {
                try TrustStore.installSystemTrust(gatewayCA: gatewayCA, environment: self.environment, logger: self.logger)
            }
        } catch {
            throw .trustStore(error)
        }
    }

    /// Starts the relay and returns once it listens.
    private func startRelay(webSocketURL: WebSocketURL, sessionID: String, token: String) throws(SetupError) -> RunningRelay {
        let configuration = RelayConfiguration(
            listen: self.settings.listen,
            webSocketURL: webSocketURL,
            sessionID: sessionID,
            token: token,
            trustRootsFile: self.settings.caBundle,
            handshakeTimeout: self.settings.handshakeTimeoutAmount,
            keepaliveInterval: self.settings.keepaliveInterval,
            logger: self.logger
        )
        switch Blocking.wait({ try await Relay.start(configuration) }) {
        case .success(let relay)?:
            return relay
        case .failure(let error)?:
            throw .relay(listen: self.settings.listen, reason: String(describing: error))
        case nil:
            preconditionFailure("a wait without a timeout always has a result")
        }
    }

    /// Writes the env file for the listening relay; on failure the relay is stopped again.
    private func writeEnvFile(for relay: RunningRelay) throws(SetupError) -> [EnvironmentVariable] {
        let variables = ProxyEnvironment.variables(
            proxyURL: ProxyEnvironment.proxyURL(for: relay.localAddress),
            port: relay.port,
            noProxy: NoProxyList.compose(gatewayHosts: NoProxyList.gatewayHosts(of: self.settings), extra: self.settings.noProxy),
            caBundle: self.settings.caBundle
        )
        do {
            try EnvFile.write(EnvFile.render(variables, path: self.settings.envFile), to: self.settings.envFile)
        } catch {
            _ = Blocking.wait(timeout: .seconds(5)) { await relay.shutdown(gracePeriod: .zero) }
            throw .envFile(error)
        }
        return variables
    }
}
