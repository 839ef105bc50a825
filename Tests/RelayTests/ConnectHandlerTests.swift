import Logging
import NIOCore
import NIOEmbedded
import RelayProtocol
import Testing
import TestSupport

@testable import Relay

/// `ConnectHandler`'s states without sockets: the client connection and the tunnel's WebSocket
/// are EmbeddedChannels on one loop, and the dial is a promise the test completes or fails.
@Suite struct ConnectHandlerTests {
    private let harness: Harness

    init() throws {
        self.harness = try Harness()
    }

    private var client: EmbeddedChannel { self.harness.client }
    private var webSocket: EmbeddedChannel { self.harness.webSocket }

    // MARK: Half-close (SPEC §6.2, §6.8)

    /// The defect of issue 10, part 8: head, early data, EOF, all before the WebSocket is open.
    @Test func anEOFWhileConnectingStillSendsTheEarlyDataThenClosesTheTunnel() throws {
        let early = ByteBuffer(repeating: 0x61, count: 300 * 1024)
        try self.client.writeInbound(ByteBuffer(string: Harness.head))
        try self.client.writeInbound(early)
        self.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(self.client.isActive, "the client is kept while its early data is waiting for the tunnel")
        #expect(self.harness.dials.cancelled == 0)

        self.harness.dial.succeed(self.webSocket)
        #expect(try self.harness.sentToGateway() == [Harness.firstChunk, early])
        #expect(!self.webSocket.isActive, "the tunnel closes once the early data is sent")
        #expect(!self.client.isActive)
        self.harness.loop.run()
        #expect(self.harness.outcomes == ["client closed"])
        #expect(self.harness.tunnelLog.totals.bytesUp == early.readableBytes)
        #expect(self.harness.tunnelLog.totals.errors == 0)
    }
}

/// One `ConnectHandler` on an EmbeddedChannel client, with everything it needs.
final class Harness {
    static let head = "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nUser-Agent: test\r\n\r\n"
    static let headSuffix = tunnelHeadSuffix(sessionID: "session", token: "secret")
    /// What the relay sends as the tunnel's first message: the request line and its credentials.
    static let firstChunk = ByteBuffer(string: "CONNECT example.test:443 HTTP/1.1" + headSuffix)

    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let webSocket: EmbeddedChannel
    let reads = ReadCounter()
    let dial: EventLoopPromise<Channel>
    let dials = DialLog()
    let connections = ConnectionRegistry()
    let tunnelLog: TunnelLog
    private let logs = LogCapture()

    init() throws {
        self.client = EmbeddedChannel(loop: self.loop)
        self.webSocket = EmbeddedChannel(loop: self.loop)
        let dial = self.loop.makePromise(of: Channel.self)
        self.dial = dial
        self.tunnelLog = TunnelLog(logger: self.logs.logger())
        let dials = self.dials
        let dialer = TunnelDialer { _ in
            dials.started += 1
            return TunnelDialer.Dial(future: dial.futureResult, cancel: { dials.cancelled += 1 })
        }
        try self.client.pipeline.syncOperations.addHandler(self.reads)
        try self.client.pipeline.syncOperations.addHandler(
            ConnectHandler(
                dialer: dialer, headSuffix: Self.headSuffix,
                connections: self.connections, tunnelLog: self.tunnelLog, logger: self.logs.logger()
            )
        )
        self.connections.add(self.client)
        try self.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try self.webSocket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
    }

    deinit {
        // Whatever a test left pending: the dial fails, both channels close.
        self.dial.fail(ChannelError.alreadyClosed)
        _ = try? self.client.finish()
        _ = try? self.webSocket.finish()
    }

    /// The outcome of each CONNECT request logged so far, in order.
    var outcomes: [String] { self.logs.records("tunnel closed").compactMap { $0.metadata["outcome"] } }

    /// Everything written to the WebSocket so far, one buffer per write.
    func sentToGateway() throws -> [ByteBuffer] {
        try Self.drain(self.webSocket)
    }

    /// Everything written to the client so far, as text.
    func sentToClient() throws -> String {
        try Self.drain(self.client).map { String(buffer: $0) }.joined()
    }

    private static func drain(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var buffers: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            buffers.append(buffer)
        }
        return buffers
    }
}

/// How many dials the handler started, and how many it abandoned.
final class DialLog: @unchecked Sendable {
    // Only touched on the EmbeddedEventLoop, i.e. the test's thread.
    var started = 0
    var cancelled = 0
}

/// Counts the `read()` requests that get past the handlers behind it (here: to the client socket).
final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = NIOAny
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        self.count += 1
        context.read()
    }
}
