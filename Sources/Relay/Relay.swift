import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TunnelIO

public enum Relay {
    /// Binds the CONNECT listener and returns once it accepts connections.
    public static func start(
        _ configuration: RelayConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> RunningRelay {
        let dialer = TunnelDialer.webSocket(try WebSocketConnector(configuration: configuration))
        let connections = RelayConnections()
        let headSuffix = tunnelHeadSuffix(sessionID: configuration.sessionID, token: configuration.token)
        let logger = configuration.logger
        let tunnelLog = TunnelLog(logger: logger)

        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: TunnelTuning.writeBufferWaterMark)
            .childChannelOption(.recvAllocator, value: TunnelTuning.receiveAllocator)
            // A client's EOF is an event, not a close: its early data must still reach the
            // target when it comes before the WebSocket is open (SPEC §6.2, §6.8).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectHandler(
                            dialer: dialer, headSuffix: headSuffix,
                            connections: connections, tunnelLog: tunnelLog, logger: logger
                        )
                    )
                }
            }
            .bind(host: configuration.listen.host, port: configuration.listen.port)
            .get()
        return RunningRelay(serverChannel: server, connections: connections, tunnelLog: tunnelLog, logger: logger)
    }
}

/// A relay that is listening. `shutdown` stops accepting and closes (or drains) the open tunnels.
public final class RunningRelay: Sendable {
    /// The address the listener is bound to (with the real port when 0 was asked).
    public let localAddress: SocketAddress
    public var port: Int { self.localAddress.port ?? 0 }

    private let serverChannel: Channel
    private let connections: RelayConnections
    private let tunnelLog: TunnelLog
    private let logger: Logger

    init(serverChannel: Channel, connections: RelayConnections, tunnelLog: TunnelLog, logger: Logger) {
        self.serverChannel = serverChannel
        self.connections = connections
        self.tunnelLog = tunnelLog
        self.logger = logger
        self.localAddress = serverChannel.localAddress!
    }

    /// Client connections currently open (tunnels and connections still sending their head).
    public var openConnections: Int { self.connections.count }

    /// Tunnels, errors and bytes since the relay started (final once `shutdown` returns).
    public var totals: RelayTotals { self.tunnelLog.totals }

    /// Stops accepting, then gives open tunnels up to `gracePeriod` to finish before closing them.
    public func shutdown(gracePeriod: TimeAmount = .zero) async {
        try? await self.serverChannel.close()
        if gracePeriod > .zero, self.connections.count > 0 {
            self.logger.info("waiting up to \(Double(gracePeriod.nanoseconds) / 1e9) s for \(self.connections.count) open tunnels")
            await self.connections.waitUntilEmpty(timeout: gracePeriod, on: self.serverChannel.eventLoop)
        }
        self.tunnelLog.markStopping()
        let remaining = self.connections.all
        for channel in remaining {
            channel.close(promise: nil)
        }
        for channel in remaining {
            try? await channel.closeFuture.get()
        }
    }
}
