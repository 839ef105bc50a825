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

    // MARK: The head (SPEC §6.1)

    @Test func aHeadInPiecesIsReadUntilItIsComplete() throws {
        let head = Array(Harness.head.utf8)
        for byte in head.dropLast() {
            try self.client.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(self.harness.dials.started == 0, "no WebSocket before the head is complete")
        try self.client.writeInbound(ByteBuffer(bytes: [head.last!]))
        #expect(self.harness.dials.started == 1)
        #expect(try self.harness.sentToClient().isEmpty)
        #expect(self.client.isActive)
    }

    @Test(arguments: [
        ("GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"),
        ("CONNECT example.test HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        ("CONNECT example.test:65536 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        ("CONNECT example.test:443 HTTP/2\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        ("SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
    ])
    func aBadHeadIsAnsweredThenTheConnectionCloses(request: String, statusLine: String) throws {
        try self.client.writeInbound(ByteBuffer(string: request + "bytes after the head"))
        let response = try self.harness.sentToClient()
        #expect(response.hasPrefix(statusLine))
        #expect(response.contains("Connection: close\r\n"))
        if statusLine.contains("405") { #expect(response.contains("Allow: CONNECT\r\n")) }
        #expect(!self.client.isActive)
        #expect(self.harness.dials.started == 0)
        #expect(self.harness.tunnelLog.totals.tunnels == 1 && self.harness.tunnelLog.totals.errors == 1)
    }

    @Test func aHeadOf8192BytesWithoutItsEndIs431AtOnce() throws {
        let start = "CONNECT example.test:443 HTTP/1.1\r\nX-Pad: "
        let pad = String(repeating: "a", count: ConnectHeadParser.maximumHeadLength - start.utf8.count - 1)
        try self.client.writeInbound(ByteBuffer(string: start + pad))
        #expect(try self.harness.sentToClient().isEmpty, "8191 bytes: still reading")
        try self.client.writeInbound(ByteBuffer(string: "a"))
        #expect(try self.harness.sentToClient().hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(!self.client.isActive)
        #expect(self.harness.dials.started == 0)
    }

    // MARK: Opening the tunnel (SPEC §6.2–6.5)

    /// Why a WebSocket could not be opened, and what the client gets (SPEC §6.3: 504 when the
    /// last attempt timed out, else 502).
    private static func failure(_ kind: String) -> (error: WebSocketConnectError, statusLine: String, status: Int) {
        switch kind {
        case "refused": (.failed(ChannelError.connectPending), "HTTP/1.1 502 Bad Gateway\r\n", 502)
        case "upgrade 503": (.upgradeRefused(.serviceUnavailable), "HTTP/1.1 502 Bad Gateway\r\n", 502)
        case "upgrade 401": (.upgradeRefused(.unauthorized), "HTTP/1.1 502 Bad Gateway\r\n", 502)
        default: (.timedOut(.seconds(10)), "HTTP/1.1 504 Gateway Timeout\r\n", 504)
        }
    }

    @Test(arguments: ["refused", "upgrade 503", "upgrade 401", "timeout"])
    func aWebSocketThatCannotBeOpenedIsAnswered(kind: String) throws {
        let (error, statusLine, status) = Self.failure(kind)
        try self.client.writeInbound(ByteBuffer(string: Harness.head + "early data"))
        self.harness.dial.fail(error)
        #expect(try self.harness.sentToClient().hasPrefix(statusLine))
        #expect(!self.client.isActive)
        #expect(try self.harness.sentToGateway().isEmpty)
        self.harness.loop.run()
        #expect(self.harness.outcomes.count == 1)
        #expect(self.harness.outcomes.first?.hasPrefix("answered \(status): ") == true)
        #expect(self.harness.tunnelLog.totals.errors == 1)
    }

    @Test func anOpenedTunnelCarriesTheHeadThenTheEarlyDataThenIsGlued() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head + "early "))
        try self.client.writeInbound(ByteBuffer(string: "data"))
        #expect(try self.harness.sentToGateway().isEmpty)
        self.harness.dial.succeed(self.webSocket)
        // The request line as received plus our credentials; the client's other headers stay here.
        #expect(try self.harness.sentToGateway() == [Harness.firstChunk, ByteBuffer(string: "early data")])
        #expect(try self.harness.sentToClient().isEmpty, "the relay never writes its own 200")
        #expect(throws: (any Error).self) { try self.client.pipeline.syncOperations.handler(type: ConnectHandler.self) }

        try self.webSocket.writeInbound(ByteBuffer(string: "HTTP/1.1 200 Connection Established\r\n\r\n"))
        #expect(try self.harness.sentToClient() == "HTTP/1.1 200 Connection Established\r\n\r\n")
        try self.client.writeInbound(ByteBuffer(string: "up"))
        #expect(try self.harness.sentToGateway() == [ByteBuffer(string: "up")])
        try self.webSocket.writeInbound(ByteBuffer(string: "down"))
        #expect(try self.harness.sentToClient() == "down")

        self.webSocket.pipeline.fireChannelInactive()
        #expect(!self.client.isActive, "the gateway's close closes the client")
        self.harness.loop.run()
        #expect(self.harness.outcomes == ["gateway closed"])
        #expect(self.harness.tunnelLog.totals.bytesUp == 12 && self.harness.tunnelLog.totals.bytesDown == 43)
    }

    /// The authority parser lowercases hosts; the first message still carries the request line
    /// exactly as the client sent it (SPEC §6.4).
    @Test func theRequestLineGoesToTheGatewayExactlyAsReceived() throws {
        try self.client.writeInbound(ByteBuffer(string: "CONNECT Example.TEST:443 HTTP/1.0\r\n\r\n"))
        self.harness.dial.succeed(self.webSocket)
        #expect(try self.harness.sentToGateway() == [ByteBuffer(string: "CONNECT Example.TEST:443 HTTP/1.0" + Harness.headSuffix)])
    }

    @Test func earlyDataPastTheBoundHoldsReadsBackUntilTheTunnelIsOpen() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head))
        self.client.read()
        #expect(self.harness.reads.count == 1)
        let early = ByteBuffer(repeating: 0x62, count: ConnectHandler.maximumPendingBytes)
        try self.client.writeInbound(early)
        self.client.read()
        #expect(self.harness.reads.count == 1, "past the bound, no more reads while connecting")
        self.harness.dial.succeed(self.webSocket)
        #expect(self.harness.reads.count == 2, "reading resumes once glued")
        #expect(try self.harness.sentToGateway() == [Harness.firstChunk, early])
    }

    @Test func aTunnelThatEndsBeforeTheGatewaySentAByteIs502() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head))
        self.harness.dial.succeed(self.webSocket)
        self.webSocket.pipeline.fireChannelInactive()
        #expect(try self.harness.sentToClient().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(!self.client.isActive)
    }

    // MARK: The client closes, in each state

    @Test func aClientThatClosesDuringTheHeadIsForgotten() throws {
        try self.client.writeInbound(ByteBuffer(string: "CONNECT example.test:443 HTTP/1.1\r\n"))
        try self.client.close().wait()
        self.harness.loop.run()
        #expect(self.harness.dials.started == 0)
        #expect(self.harness.connections.count == 0)
        #expect(self.harness.outcomes.isEmpty)
    }

    @Test func aClientThatClosesWhileConnectingAbandonsTheWebSocket() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head + "early"))
        try self.client.close().wait()
        #expect(self.harness.dials.cancelled == 1)
        #expect(self.harness.outcomes == ["client left during the WebSocket handshake"])
        self.harness.dial.succeed(self.webSocket)
        #expect(!self.webSocket.isActive, "a WebSocket that opens after all is closed")
        #expect(try self.harness.sentToGateway().isEmpty)
        self.harness.loop.run()
        #expect(self.harness.connections.count == 0)
    }

    @Test func aClientThatClosesOnceGluedClosesTheWebSocket() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head))
        self.harness.dial.succeed(self.webSocket)
        try self.client.writeInbound(ByteBuffer(string: "last"))
        try self.client.close().wait()
        #expect(try self.harness.sentToGateway() == [Harness.firstChunk, ByteBuffer(string: "last")])
        #expect(!self.webSocket.isActive)
        self.harness.loop.run()
        #expect(self.harness.outcomes == ["client closed"])
        #expect(self.harness.connections.count == 0)
    }

    // MARK: The client half-closes, in each state

    @Test func anEOFDuringTheHeadClosesTheConnection() throws {
        try self.client.writeInbound(ByteBuffer(string: "CONNECT example.test:443 HTTP/1.1\r\n"))
        self.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!self.client.isActive)
        #expect(self.harness.dials.started == 0)
        #expect(try self.harness.sentToClient().isEmpty)
    }

    @Test func anEOFWhileConnectingWithNothingToSendAbandonsTheWebSocket() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head))
        self.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!self.client.isActive)
        #expect(self.harness.dials.cancelled == 1)
        #expect(self.harness.outcomes == ["client left during the WebSocket handshake"])
    }

    @Test func anEOFWhileConnectingThenAFailedDialIsStillAnswered() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head + "early"))
        self.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        self.harness.dial.fail(WebSocketConnectError.failed(ChannelError.connectPending))
        #expect(try self.harness.sentToClient().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "the client still reads")
        #expect(!self.client.isActive)
    }

    @Test func anEOFOnceGluedClosesTheTunnelAfterTheBytesAlreadyRead() throws {
        try self.client.writeInbound(ByteBuffer(string: Harness.head))
        self.harness.dial.succeed(self.webSocket)
        try self.client.writeInbound(ByteBuffer(string: "last"))
        self.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try self.harness.sentToGateway() == [Harness.firstChunk, ByteBuffer(string: "last")])
        #expect(!self.webSocket.isActive)
        #expect(!self.client.isActive)
        self.harness.loop.run()
        #expect(self.harness.outcomes == ["client closed"])
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
    let connections = RelayConnections()
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
