import NIOCore
import NIOEmbedded
import Testing

@testable import Gateway

/// `TunnelHandler`'s state machine without sockets: the WebSocket side and the target are
/// EmbeddedChannels on one loop, and the dial is a promise the test completes.
@Suite struct TunnelHandlerTests {
    private let loop = EmbeddedEventLoop()
    private let webSocket: EmbeddedChannel
    private let target: EmbeddedChannel
    private let reads = ReadCounter()
    private let dial: EventLoopPromise<Channel>

    init() throws {
        self.webSocket = EmbeddedChannel(loop: self.loop)
        self.target = EmbeddedChannel(loop: self.loop)
        let dial = self.loop.makePromise(of: Channel.self)
        self.dial = dial
        let tokens = try TokenTable(TestSessions.tokens)
        let settings = TunnelHandler.Settings(
            accessPolicy: AccessPolicy(),
            tokens: tokens,
            mapHost: [:],
            dialer: TunnelHandler.Dialer(timeout: .seconds(1)) { _, _, _ in dial.futureResult }
        )
        let identity = TunnelIdentity(session: TestSessions.first.session, token: TestSessions.first.token)
        try self.webSocket.pipeline.syncOperations.addHandler(self.reads)
        try self.webSocket.pipeline.syncOperations.addHandler(
            TunnelHandler(identity: identity, settings: settings, logger: GatewayConfiguration.testLogger)
        )
        try self.webSocket.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try self.target.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
    }

    private var head: String {
        "CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: \(TestSessions.firstCredentials.headerValue)\r\n\r\n"
    }

    @Test func buffersWhileDiallingInOrderAndStopsReadingPastTheLimit() throws {
        try self.webSocket.writeInbound(ByteBuffer(string: self.head + "early "))
        try self.webSocket.writeInbound(ByteBuffer(string: "then "))
        self.webSocket.read()
        #expect(self.reads.count == 1, "below the limit, reads pass")

        let large = ByteBuffer(repeating: 0x61, count: TunnelHandler.maximumPendingBytes)
        try self.webSocket.writeInbound(large)
        self.webSocket.read()
        #expect(self.reads.count == 1, "past the limit, the read is held back")

        self.dial.succeed(self.target)
        #expect(try self.webSocket.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n"))
        #expect(try self.target.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "early "))
        #expect(try self.target.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "then "))
        #expect(try self.target.readOutbound(as: ByteBuffer.self) == large)
        #expect(self.reads.count == 2, "the held read is issued once tunnelling")

        // Glued: bytes flow both ways.
        try self.webSocket.writeInbound(ByteBuffer(string: "up"))
        #expect(try self.target.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "up"))
        try self.target.writeInbound(ByteBuffer(string: "down"))
        #expect(try self.webSocket.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "down"))
        _ = try? self.webSocket.finish()
        #expect(!self.target.isActive, "the WebSocket closing closes the target")
    }

    @Test func aWebSocketThatClosesWhileDiallingClosesTheTargetOnArrival() throws {
        try self.webSocket.writeInbound(ByteBuffer(string: self.head))
        _ = try? self.webSocket.finish()
        self.dial.succeed(self.target)
        #expect(!self.target.isActive)
    }

    /// Issue 10, part 8: the relay sends a client's early data and then closes the WebSocket,
    /// possibly before the target has answered. The bytes still reach the target, then EOF.
    @Test func earlyDataOfAWebSocketThatClosesWhileDiallingStillReachesTheTarget() throws {
        try self.webSocket.writeInbound(ByteBuffer(string: self.head + "early "))
        try self.webSocket.writeInbound(ByteBuffer(string: "data"))
        _ = try? self.webSocket.finish()
        #expect(self.target.isActive)
        self.dial.succeed(self.target)
        #expect(try self.target.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "early "))
        #expect(try self.target.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "data"))
        #expect(!self.target.isActive, "then the target is closed")
    }

    /// The relay closes its socket once its close frame is written, so the gateway's echo of
    /// the close can meet a reset: what came before it still reaches the target.
    @Test func aWebSocketEndedByAResetWhileDiallingStillDeliversWhatCameBefore() throws {
        struct ConnectionReset: Error {}
        try self.webSocket.writeInbound(ByteBuffer(string: self.head + "early"))
        self.webSocket.pipeline.fireErrorCaught(ConnectionReset())
        #expect(!self.webSocket.isActive)
        self.dial.succeed(self.target)
        #expect(try self.target.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "early"))
        #expect(!self.target.isActive)
    }

    @Test func aDialTimeoutIsAnswered504ThenClosed() throws {
        try self.webSocket.writeInbound(ByteBuffer(string: self.head + "lost"))
        self.dial.fail(ChannelError.connectTimeout(.seconds(1)))
        #expect(try self.webSocket.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "HTTP/1.1 504 Gateway Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
        #expect(!self.webSocket.isActive)
        _ = try? self.target.finish()
    }

    @Test func aFailedDialIsAnswered502() throws {
        try self.webSocket.writeInbound(ByteBuffer(string: self.head))
        self.dial.fail(ChannelError.connectPending)
        #expect(try self.webSocket.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
        #expect(!self.webSocket.isActive)
        _ = try? self.target.finish()
    }

    @Test func bytesAfterARefusalAreDropped() throws {
        try self.webSocket.writeInbound(ByteBuffer(string: "CONNECT example.com:443 HTTP/1.1\r\n\r\nsecret"))
        let response = try #require(try self.webSocket.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: response).hasPrefix("HTTP/1.1 407 "))
        #expect(!self.webSocket.isActive)
        #expect(try self.webSocket.readInbound(as: ByteBuffer.self) == nil)
        _ = try? self.target.finish()
        self.dial.fail(ChannelError.alreadyClosed)
    }
}

/// Counts the `read()` requests that get past the handlers behind it.
private final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = NIOAny
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        self.count += 1
        context.read()
    }
}
