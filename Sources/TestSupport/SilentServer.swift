import NIOCore
import NIOPosix

/// A TCP server that accepts connections and reads (discarding) whatever
/// arrives but never sends a byte: the peer that stalls, for timeout tests.
public final class SilentServer: Sendable {
    public let port: Int
    private let listener: Listener
    private let counts: Waitable<ConnectionCounts>

    private init(listener: Listener, counts: Waitable<ConnectionCounts>) {
        self.listener = listener
        self.counts = counts
        self.port = listener.port
    }

    public static func start(host: String = "127.0.0.1", port: Int = 0) async throws -> SilentServer {
        let counts = Waitable(ConnectionCounts())
        let listener = try await Listener.bind(host: host, port: port) { channel in
            counts.update {
                $0.accepted += 1
                $0.open += 1
            }
            channel.closeFuture.whenComplete { _ in counts.update { $0.open -= 1 } }
            try channel.pipeline.syncOperations.addHandler(DiscardHandler())
        }
        return SilentServer(listener: listener, counts: counts)
    }

    /// Connections accepted so far (including ones since closed).
    public var acceptedConnections: Int { counts.read(\.accepted) }

    /// Accepted connections not yet closed (by either side).
    public var openConnections: Int { counts.read(\.open) }

    /// Returns once at least `count` connections have been accepted; throws
    /// ``TestTimeoutError`` after `timeout`. Lets a test wait for "the client
    /// has connected" without polling or sleeping.
    public func waitForAcceptedConnections(_ count: Int, timeout: Duration = .seconds(10)) async throws {
        try await withTimeout(timeout, waitingFor: "\(count) accepted connection(s)") {
            try await self.counts.wait { $0.accepted >= count ? () : nil }
        }
    }

    /// Returns once exactly `count` connections are open, e.g. 0 to see that a
    /// client gave up its connection; throws ``TestTimeoutError`` after `timeout`.
    public func waitForOpenConnections(_ count: Int, timeout: Duration = .seconds(10)) async throws {
        try await withTimeout(timeout, waitingFor: "\(count) open connection(s)") {
            try await self.counts.wait { $0.open == count ? () : nil }
        }
    }

    public func shutdown() async {
        await listener.shutdown()
    }
}

/// Reads everything and drops it, so the client's writes never block on us;
/// the silence is in the other direction.
final class DiscardHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

struct ConnectionCounts {
    var accepted = 0
    var open = 0
}
