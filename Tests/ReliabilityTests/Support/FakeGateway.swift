import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import RelayProtocol
import TestSupport

/// A WebSocket gateway that misbehaves on request, for the faults the reference gateway never
/// makes. It is a real NIO server (`NIOWebSocketServerUpgrader`); `relay-init --ws-url` points at
/// it while the CA comes from elsewhere.
///
/// Two levels of script:
/// - how the *upgrade* is answered (``Upgrade``), switchable between connections with
///   ``answerUpgrades(with:)``, read when a connection is accepted;
/// - what an upgraded *tunnel* does, chosen by the CONNECT target's host (``Script``).
final class FakeGateway: Sendable {
    enum Upgrade: Sendable, Equatable, CustomStringConvertible {
        /// `101 Switching Protocols`, then the tunnel's script.
        case accept
        /// A complete HTTP response with this status, then close.
        case refuse(status: Int)
        /// Bytes that are not HTTP at all; the connection stays open.
        case garbage
        /// Reads the request and never answers; the connection stays open.
        case silent

        var description: String {
            switch self {
            case .accept: "101"
            case .refuse(let status): "\(status)"
            case .garbage: "garbage"
            case .silent: "silence"
            }
        }
    }

    /// What an upgraded tunnel does, by CONNECT host.
    enum Script: String, CaseIterable, Sendable {
        /// 200, then every chunk echoed back.
        case echo = "echo.test"
        /// A message that is not a valid chunk (the first message of the tunnel).
        case invalidChunk = "invalid-chunk.test"
        /// A text frame (the first message of the tunnel).
        case textFrame = "text-frame.test"
        /// 200, then one binary frame larger than the relay's maximum message size.
        case oversizedFrame = "oversized-frame.test"
        /// 200 and a few bytes, then a close frame with a code and a reason.
        case closeWithReason = "close-with-reason.test"
        /// 200 and ``FakeGateway/midDownloadBytes`` of data, then the TCP connection closes
        /// without a close frame.
        case dropMidDownload = "drop-download.test"
        /// 200, then the TCP connection closes (no close frame) once
        /// ``FakeGateway/midUploadBytes`` have arrived from the client.
        case dropMidUpload = "drop-upload.test"
    }

    /// Bytes sent before the connection drops, in ``Script/dropMidDownload``.
    static let midDownloadBytes = 1 << 20
    /// Bytes received before the connection drops, in ``Script/dropMidUpload``.
    static let midUploadBytes = 1 << 20
    /// The payload of ``Script/oversizedFrame``: twice what the relay accepts.
    static let oversizedFrameBytes = 2 << 20
    /// The reason in ``Script/closeWithReason``'s close frame.
    static let closeReason = "fake gateway going away"
    static let closeWithReasonData = "partial data before the close"

    struct State: Sendable {
        var upgrade = Upgrade.accept
        var accepted = 0
        var open = 0
        /// Upgrade requests received, however answered.
        var upgradeRequests = 0
        /// Connections upgraded to WebSocket.
        var tunnels = 0
        /// Close frames received from relays, and the status code each carried.
        var closeFramesFromRelay = 0
        var closeCodesFromRelay: [UInt16] = []
        /// Authorization header values seen, for the token tests.
        var authorizations: [String] = []
    }

    let port: Int
    let state: Waitable<State>
    private let channel: Channel
    private let connections: ChannelSet

    private init(channel: Channel, state: Waitable<State>, connections: ChannelSet) {
        self.channel = channel
        self.state = state
        self.connections = connections
        self.port = channel.localAddress!.port!
    }

    static func start() async throws -> FakeGateway {
        let state = Waitable(State())
        let connections = ChannelSet()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                var behaviour = Upgrade.accept
                state.update {
                    behaviour = $0.upgrade
                    $0.accepted += 1
                    $0.open += 1
                }
                channel.closeFuture.whenComplete { _ in state.update { $0.open -= 1 } }
                connections.insert(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, behaviour: behaviour, state: state)
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return FakeGateway(channel: channel, state: state, connections: connections)
    }

    /// How upgrades on connections accepted from now on are answered.
    func answerUpgrades(with upgrade: Upgrade) {
        self.state.update { $0.upgrade = upgrade }
    }

    /// Zeroes the counters (not the open connections, nor the upgrade behaviour): tests count
    /// from the end of their set-up.
    func resetCounters() {
        self.state.update { state in
            state = State(upgrade: state.upgrade, accepted: 0, open: state.open)
        }
    }

    /// Returns once no connection to the fake is open: the relay closed (or never kept) its side.
    func waitUntilNoConnectionIsOpen(timeout: Duration = .seconds(10)) async throws {
        try await self.state.wait("the relay to close every connection to the fake gateway", timeout: timeout) { $0.open == 0 }
    }

    func shutdown() async {
        try? await self.channel.close()
        await self.connections.closeAll()
    }

    private static func configure(_ channel: Channel, behaviour: Upgrade, state: Waitable<State>) throws {
        let pipeline = channel.pipeline.syncOperations
        switch behaviour {
        case .garbage, .silent:
            try pipeline.addHandler(RawUpgradeAnswer(sendGarbage: behaviour == .garbage, state: state))
        case .refuse(let status):
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandler(RefusingUpgradeHandler(status: HTTPResponseStatus(statusCode: status), state: state))
        case .accept:
            let upgrader = NIOWebSocketServerUpgrader(
                // Relay chunks are at most 512 KiB of data: anything up to 16 MiB is taken.
                maxFrameSize: 16 << 20,
                automaticErrorHandling: false,
                shouldUpgrade: { channel, head in
                    state.update {
                        $0.upgradeRequests += 1
                        $0.authorizations += head.headers["Authorization"]
                    }
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                },
                upgradePipelineHandler: { channel, _ in
                    state.update { $0.tunnels += 1 }
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(FakeTunnelHandler(state: state))
                    }
                }
            )
            try pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        }
    }
}

/// The open connections of a server, so that shutdown closes them too.
final class ChannelSet: @unchecked Sendable {
    // @unchecked: `channels` is only touched under `lock`.
    private let lock = NSLock()
    private var channels: [ObjectIdentifier: Channel] = [:]

    func insert(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        self.lock.lock()
        self.channels[id] = channel
        self.lock.unlock()
        channel.closeFuture.whenComplete { _ in
            self.lock.lock()
            self.channels[id] = nil
            self.lock.unlock()
        }
    }

    var all: [Channel] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return Array(self.channels.values)
    }

    func closeAll() async {
        for channel in self.all {
            try? await channel.close()
        }
    }
}

/// `.garbage` and `.silent`: below HTTP, so that nothing of NIO's parses or answers the request.
private final class RawUpgradeAnswer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let sendGarbage: Bool
    private let state: Waitable<FakeGateway.State>
    private var answered = false

    init(sendGarbage: Bool, state: Waitable<FakeGateway.State>) {
        self.sendGarbage = sendGarbage
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.answered else { return }
        self.answered = true
        self.state.update { $0.upgradeRequests += 1 }
        if self.sendGarbage {
            // Neither a status line nor anything an HTTP/1.1 parser could take for one.
            var garbage = context.channel.allocator.buffer(string: "SSH-2.0-OpenSSH_9.2 not http\r\n")
            garbage.writeBytes([0x00, 0xFF, 0xFE, 0x0D, 0x0A, 0x0D, 0x0A])
            context.writeAndFlush(Self.wrapOutboundOut(garbage), promise: nil)
        }
    }
}

/// `.refuse(status)`: a complete, well-formed HTTP response that is not 101.
private final class RefusingUpgradeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let status: HTTPResponseStatus
    private let state: Waitable<FakeGateway.State>

    init(status: HTTPResponseStatus, state: Waitable<FakeGateway.State>) {
        self.status = status
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head):
            self.state.update {
                $0.upgradeRequests += 1
                $0.authorizations += head.headers["Authorization"]
            }
        case .body:
            break
        case .end:
            let body = context.channel.allocator.buffer(string: "refused by the fake gateway\n")
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            headers.add(name: "Connection", value: "close")
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: self.status, headers: headers))), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}

/// One upgraded tunnel: reads the CONNECT head from the first chunk(s), then runs the script
/// its host names.
private final class FakeTunnelHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private enum Phase {
        case awaitingHead(ConnectHeadParser)
        case running(FakeGateway.Script, received: Int)
        case closing
    }

    private let state: Waitable<FakeGateway.State>
    private var phase = Phase.awaitingHead(ConnectHeadParser())

    init(state: Waitable<FakeGateway.State>) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        switch frame.opcode {
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self)
            self.state.update {
                $0.closeFramesFromRelay += 1
                if let code { $0.closeCodesFromRelay.append(code) }
            }
            if case .closing = self.phase {
                // Our close was answered: the handshake is complete.
                context.close(promise: nil)
            } else {
                self.phase = .closing
                self.sendClose(code: .normalClosure, reason: "", context: context)
            }
            return
        case .ping:
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
            return
        case .binary:
            break
        default:
            context.close(promise: nil)
            return
        }
        guard let payload = try? Chunk.decode(frame.unmaskedData) else {
            context.close(promise: nil)
            return
        }
        switch self.phase {
        case .awaitingHead(var parser):
            guard case .complete(let request) = try? parser.feed(payload) else {
                self.phase = .awaitingHead(parser)
                return
            }
            let script = FakeGateway.Script(rawValue: request.host) ?? .echo
            self.phase = .running(script, received: 0)
            self.start(script, leftover: request.leftover, context: context)
        case .running(let script, let received):
            let total = received + payload.readableBytes
            self.phase = .running(script, received: total)
            switch script {
            case .echo:
                if payload.readableBytes > 0 { self.sendData(payload, context: context) }
            case .dropMidUpload where total >= FakeGateway.midUploadBytes:
                self.phase = .closing
                context.close(promise: nil)
            default:
                break
            }
        case .closing:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func start(_ script: FakeGateway.Script, leftover: ByteBuffer, context: ChannelHandlerContext) {
        let allocator = context.channel.allocator
        switch script {
        case .echo:
            self.sendData(allocator.buffer(string: Self.established), context: context)
            if leftover.readableBytes > 0 { self.sendData(leftover, context: context) }
        case .invalidChunk:
            // Field 1, length 5, but only one byte follows.
            self.send(WebSocketFrame(fin: true, opcode: .binary, data: allocator.buffer(bytes: [0x0A, 0x05, 0x61])), context: context)
        case .textFrame:
            self.send(WebSocketFrame(fin: true, opcode: .text, data: allocator.buffer(string: "hello")), context: context)
        case .oversizedFrame:
            self.sendData(allocator.buffer(string: Self.established), context: context)
            let payload = allocator.buffer(repeating: UInt8(ascii: "x"), count: FakeGateway.oversizedFrameBytes)
            self.send(WebSocketFrame(fin: true, opcode: .binary, data: Chunk.encode(payload)), context: context)
        case .closeWithReason:
            self.sendData(allocator.buffer(string: Self.established + FakeGateway.closeWithReasonData), context: context)
            self.phase = .closing
            self.sendClose(code: .goingAway, reason: FakeGateway.closeReason, context: context)
        case .dropMidDownload:
            self.sendData(allocator.buffer(string: Self.established), context: context)
            let piece = 64 << 10
            for offset in stride(from: 0, to: FakeGateway.midDownloadBytes, by: piece) {
                self.sendData(allocator.buffer(repeating: UInt8(truncatingIfNeeded: offset / piece), count: piece), context: context)
            }
            self.phase = .closing
            // After the last write: a TCP close with no close frame, as when a gateway dies.
            context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: Chunk.encode(allocator.buffer(capacity: 0)))))
                .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case .dropMidUpload:
            self.sendData(allocator.buffer(string: Self.established), context: context)
        }
    }

    private static let established = "HTTP/1.1 200 Connection Established\r\n\r\n"

    private func sendData(_ data: ByteBuffer, context: ChannelHandlerContext) {
        self.send(WebSocketFrame(fin: true, opcode: .binary, data: Chunk.encode(data)), context: context)
    }

    private func send(_ frame: WebSocketFrame, context: ChannelHandlerContext) {
        context.writeAndFlush(Self.wrapOutboundOut(frame), promise: nil)
    }

    private func sendClose(code: WebSocketErrorCode, reason: String, context: ChannelHandlerContext) {
        var payload = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.write(webSocketErrorCode: code)
        payload.writeString(reason)
        self.send(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload), context: context)
    }
}
