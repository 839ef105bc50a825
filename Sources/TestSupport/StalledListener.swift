import NIOCore
import NIOPosix

/// A loopback port with nothing listening: bound once, then closed, so connecting is refused.
public func refusedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// A listener that never accepts and whose accept queue is full, so a new connection attempt
/// gets no answer at all (the kernel drops the SYN) and hangs until the dialler gives up:
/// a dial timeout that stays on loopback.
public final class StalledListener: Sendable {
    public let port: Int
    private let server: Channel
    private let fillers: [Channel]

    private init(port: Int, server: Channel, fillers: [Channel]) {
        self.port = port
        self.server = server
        self.fillers = fillers
    }

    public static func start() async throws -> StalledListener {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 0)
            // Never reading the server socket means never accepting: the queue only fills.
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress!.port!
        // Connect until a connection attempt is left unanswered: that proves the queue is full
        // (how many fit depends on the kernel: one on Linux with backlog 0).
        var fillers: [Channel] = []
        for _ in 0..<64 {
            do {
                let filler = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.milliseconds(300))
                    .connect(host: "127.0.0.1", port: port).get()
                fillers.append(filler)
            } catch ChannelError.connectTimeout {
                return StalledListener(port: port, server: server, fillers: fillers)
            }
        }
        try? await server.close()
        throw StalledListenerError.queueNeverFilled
    }

    public func shutdown() async {
        for filler in self.fillers { try? await filler.close() }
        try? await self.server.close()
    }
}

public enum StalledListenerError: Error {
    case queueNeverFilled
}
