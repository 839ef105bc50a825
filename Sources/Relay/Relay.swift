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
        let connections = ConnectionRegistry()
        let headSuffix = tunnelHeadSuffix(sessionID: configuration.sessionID, token: configuration.token)
        let logger = configuration.logger
        let tunnelLog = TunnelLog(logger: logger)

        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
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
            .bind(host: configuration.listenHost, port: configuration.listenPort)
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
    private let connections: ConnectionRegistry
    private let tunnelLog: TunnelLog
    private let logger: Logger

    init(serverChannel: Channel, connections: ConnectionRegistry, tunnelLog: TunnelLog, logger: Logger) {
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

/// The client connections of one relay, so shutdown can find them.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        var channel: Channel
        var onClose: (@Sendable () -> Void)?
    }

    private struct State {
        var channels: [ObjectIdentifier: Entry] = [:]
        var emptyWaiters: [EventLoopPromise<Void>] = []
        /// Counts the times the registry became empty, so a trim scheduled for an earlier
        /// quiet moment can tell that tunnels came and went since.
        var emptyGeneration = 0
    }

    private let state = NIOLockedValueBox(State())

    /// How long the relay must stay without connections before freed memory is handed back.
    static let trimDelay = TimeAmount.seconds(1)

    func add(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        self.state.withLockedValue { $0.channels[id] = Entry(channel: channel) }
        channel.closeFuture.whenComplete { _ in
            // The hook first: whoever waits for the registry (shutdown, then the exit summary)
            // must find what it records done.
            let hook = self.state.withLockedValue { $0.channels[id]?.onClose }
            hook?()
            let (waiters, generation) = self.state.withLockedValue { state -> ([EventLoopPromise<Void>], Int?) in
                state.channels[id] = nil
                guard state.channels.isEmpty else { return ([], nil) }
                state.emptyGeneration += 1
                defer { state.emptyWaiters = [] }
                return (state.emptyWaiters, state.emptyGeneration)
            }
            waiters.forEach { $0.succeed(()) }
            if let generation {
                self.trimIfStillQuiet(generation: generation, on: channel.eventLoop)
            }
        }
    }

    /// Runs `body` on the channel's event loop when it closes, before the registry lets go of it.
    func onClose(of channel: Channel, _ body: @escaping @Sendable () -> Void) {
        self.state.withLockedValue { $0.channels[ObjectIdentifier(channel)]?.onClose = body }
    }

    /// The last connection closed: if none opens within `trimDelay`, return freed memory.
    private func trimIfStillQuiet(generation: Int, on eventLoop: EventLoop) {
        eventLoop.scheduleTask(in: Self.trimDelay) {
            let quiet = self.state.withLockedValue { $0.channels.isEmpty && $0.emptyGeneration == generation }
            if quiet { MemoryTrim.releaseFreeMemory() }
        }
    }

    var count: Int { self.state.withLockedValue { $0.channels.count } }
    var all: [Channel] { self.state.withLockedValue { $0.channels.values.map(\.channel) } }

    func waitUntilEmpty(timeout: TimeAmount, on eventLoop: EventLoop) async {
        let promise = eventLoop.makePromise(of: Void.self)
        let empty = self.state.withLockedValue { state -> Bool in
            if state.channels.isEmpty { return true }
            state.emptyWaiters.append(promise)
            return false
        }
        if empty { promise.succeed(()) }
        let timer = eventLoop.scheduleTask(in: timeout) { promise.succeed(()) }
        try? await promise.futureResult.get()
        timer.cancel()
    }
}
