import NIOCore
import NIOPosix

/// A listening socket plus every connection it accepted.
///
/// Closing only the listening channel would leave accepted connections open,
/// and a test that stops a server expects its peers to see the connections end.
final class Listener: Sendable {
    let channel: Channel
    let connections: ConnectionSet

    /// The port actually bound (the ephemeral one when 0 was asked).
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: Channel, connections: ConnectionSet) {
        self.channel = channel
        self.connections = connections
    }

    /// Binds `host:port` on the shared event loop group and runs `initialize`
    /// on each accepted channel's event loop to build its pipeline.
    static func bind(
        host: String,
        port: Int,
        allowHalfClosure: Bool = false,
        initialize: @escaping @Sendable (Channel) throws -> Void
    ) async throws -> Listener {
        let connections = ConnectionSet()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: allowHalfClosure)
            .childChannelInitializer { channel in
                connections.insert(channel)
                return channel.eventLoop.makeCompletedFuture { try initialize(channel) }
            }
            .bind(host: host, port: port)
            .get()
        return Listener(channel: channel, connections: connections)
    }

    /// Stops accepting, then closes every open connection; returns once all are closed.
    func shutdown() async {
        try? await channel.close()
        await connections.closeAll()
    }
}

/// The open connections of a ``Listener``; each removes itself when it closes.
final class ConnectionSet: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: Channel] = [:]
        var isClosed = false
    }

    private let state = LockedBox(State())

    var count: Int { state.withLock { $0.channels.count } }

    func insert(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.channels[id] = channel
            return true
        }
        guard accepted else {
            // Accepted in the instant between closing the listener and closing the set.
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.state.withLock { _ = $0.channels.removeValue(forKey: id) }
        }
    }

    func closeAll() async {
        let channels = state.withLock { state in
            state.isClosed = true
            return Array(state.channels.values)
        }
        for channel in channels {
            try? await channel.close()
        }
    }
}
