import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import RelayProtocol

/// A gateway that misbehaves on request, for faults the reference gateway never makes.
/// It is a real WebSocket server; what it does per tunnel depends on the CONNECT target's host:
/// - `invalid-chunk.test`: sends a message that is not a valid chunk;
/// - `text-frame.test`: sends a text frame;
/// - anything else: answers 200 and echoes every chunk back.
final class ScriptedGateway: Sendable {
    let port: Int
    private let channel: Channel

    private init(channel: Channel) {
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    static func start() async throws -> ScriptedGateway {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 20,
                    automaticErrorHandling: false,
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ScriptedTunnelHandler())
                        }
                    }
                )
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in })
                )
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedGateway(channel: channel)
    }

    func shutdown() async {
        try? await self.channel.close()
    }
}

private final class ScriptedTunnelHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var parser: ConnectHeadParser? = ConnectHeadParser()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        guard frame.opcode == .binary, let payload = try? Chunk.decode(frame.unmaskedData) else {
            context.close(promise: nil)
            return
        }
        guard var parser = self.parser else {
            // Echo.
            self.send(Chunk.encode(payload), context: context)
            return
        }
        guard case .complete(let request) = try? parser.feed(payload) else {
            self.parser = parser
            return
        }
        self.parser = nil
        switch request.host {
        case "invalid-chunk.test":
            self.send(ByteBuffer(bytes: [0x0A, 0x05, 0x61]), context: context)
        case "text-frame.test":
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "hi"))), promise: nil)
        default:
            self.send(Chunk.encode(ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n")), context: context)
            if request.leftover.readableBytes > 0 {
                self.send(Chunk.encode(request.leftover), context: context)
            }
        }
    }

    private func send(_ message: ByteBuffer, context: ChannelHandlerContext) {
        context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: message)), promise: nil)
    }
}
