import Logging
import RelayLogging

/// A checked `relay-gateway` command line: what to run and how to log.
public struct GatewaySettings: Sendable {
    /// Everything but the logger: that exists only once logging is set up from `logLevel` and
    /// `logFormat` (see `configuration(logger:)`).
    private var configuration: GatewayConfiguration
    public var logLevel: Logger.Level
    public var logFormat: LogFormat

    init(configuration: GatewayConfiguration, logLevel: Logger.Level, logFormat: LogFormat) {
        self.configuration = configuration
        self.logLevel = logLevel
        self.logFormat = logFormat
    }

    /// The gateway's configuration, logging through `logger`.
    public func configuration(logger: Logger) -> GatewayConfiguration {
        var configuration = self.configuration
        configuration.logger = logger
        return configuration
    }
}
