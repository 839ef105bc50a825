import Logging
import ServiceLifecycle

/// The gateway as a swift-service-lifecycle `Service`: `run()` starts listening, reports the
/// address, and on graceful shutdown (SIGTERM or SIGINT, which its `ServiceGroup` turns into
/// one) stops and returns. Start-up failures are thrown.
public struct GatewayService: Service, CustomStringConvertible {
    private let configuration: GatewayConfiguration
    private let onListening: @Sendable (RunningGateway) -> Void

    /// `onListening` runs once the listener accepts connections.
    public init(configuration: GatewayConfiguration, onListening: @escaping @Sendable (RunningGateway) -> Void = { _ in }) {
        self.configuration = configuration
        self.onListening = onListening
    }

    /// What `ServiceGroup` logs for this service (at debug): never the configuration, which
    /// holds the tokens.
    public var description: String { "GatewayService" }

    public func run() async throws {
        let gateway = try await Gateway.start(self.configuration)
        self.onListening(gateway)
        // Returns on graceful shutdown; throws (and so ends the wait too) when cancelled.
        try? await gracefulShutdown()
        self.configuration.logger.info("stopping")
        // Graceful drain goes here (SPEC §7, next issue): stop accepting, let open tunnels
        // finish for up to --drain-timeout, then close the rest. Today's stop closes at once:
        // the listener, then every connection with a close frame (2 s grace for the frame).
        await gateway.shutdown()
    }
}
