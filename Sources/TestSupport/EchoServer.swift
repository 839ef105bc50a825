import NIOCore
import NIOPosix

/// A TCP server that sends back every byte it receives, for tests of raw
/// tunnels. When the client half-closes, the echo finishes and the server closes.
public final class EchoServer: Sendable {
    public let port: Int
    private let listener: Listener

    private init(listener: Listener) {
        self.listener = listener
        self.port = listener.port
    }

    public static func start(host: String = "127.0.0.1", port: Int = 0) async throws -> EchoServer {
        let listener = try await Listener.bind(host: host, port: port, allowHalfClosure: true) { channel in
            try channel.pipeline.syncOperations.addHandler(EchoHandler())
        }
        return EchoServer(listener: listener)
    }

    public func shutdown() async {
        await listener.shutdown()
    }
}

/// Echoes with backpressure: a read is only requested while the channel is
/// writable, so a client that sends but never reads cannot grow our buffers.
final class EchoHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var readPending = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Writes complete in order: once this empty one is done, everything echoed is out.
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)))
                .assumeIsolated()
                .whenComplete { _ in context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
