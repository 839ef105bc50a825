import Foundation
import Gateway
import Logging
import NIOCore
import NIOPosix
import Relay
import Testing
import TestSupport

/// Issue 10, part 8, with real sockets: a client that sends its CONNECT head and 300 KB of early
/// data and shuts down its write side at once, before the tunnel's WebSocket is open. SPEC §6.2
/// and §6.8: every byte received reaches the target, then the tunnel closes.
@Suite struct EarlyHalfCloseTests {
    static let session = "session-1"
    static let token = "token-early-half-close"
    static let earlyDataLength = 300 * 1024
    static let rounds = 8

    @Test func earlyDataThenEOFReachesTheTargetAndTheTunnelCloses() async throws {
        var gatewayLogger = Logger(label: "test-gateway")
        gatewayLogger.logLevel = .warning
        let gateway = try await Gateway.start(
            GatewayConfiguration(
                listen: .loopbackAnyPort, tokens: [Self.session: Self.token], transport: .insecureHTTP,
                mapHost: ["sink.test": "127.0.0.1"], logger: gatewayLogger
            )
        )
        var relayLogger = Logger(label: "test-relay")
        relayLogger.logLevel = .warning
        let relay = try await Relay.start(
            RelayConfiguration(
                webSocketURL: try #require(WebSocketURL("ws://127.0.0.1:\(gateway.port)/v1/code/upstreamproxy/ws")),
                sessionID: Self.session, token: Self.token, logger: relayLogger
            )
        )

        // Whether the tunnel lost its bytes depended on a race (the gateway's answer reaching a
        // relay that had already closed the socket, whose reset dropped what the gateway had not
        // read yet): several rounds make a regression show in every run, not one in five.
        let early = DeterministicBytes.bytes(count: Self.earlyDataLength)
        for round in 1...Self.rounds {
            let sink = try await SinkServer.start()
            let request = Array("CONNECT sink.test:\(sink.port) HTTP/1.1\r\nHost: sink.test:\(sink.port)\r\n\r\n".utf8) + early
            let answer = try await HalfClosingClient.exchange(request, port: relay.port)

            let received = try await sink.firstConnection.get()
            #expect(received.count == early.count)
            #expect(received == early, "the target receives the early data in order")
            #expect(answer.error == nil, "the client sees the tunnel close with EOF, not a reset")
            let text = String(decoding: answer.received, as: UTF8.self)
            #expect(text.isEmpty || text.hasPrefix("HTTP/1.1 200 "), "nothing but the gateway's own answer: \(text.debugDescription)")
            try await waitUntil("the relay to close the tunnel of round \(round)") { relay.openConnections == 0 }
            await sink.shutdown()
        }
        await relay.shutdown()
        #expect(relay.totals.bytesUp == early.count * Self.rounds)
        #expect(relay.totals.errors == 0)
        await gateway.shutdown()
    }
}

/// A plain blocking socket: writes everything, shuts down its write side (`SHUT_WR`) at once,
/// then reads until the relay closes. On a thread of its own, not the test's executor.
enum HalfClosingClient {
    struct Answer: Sendable {
        var received: [UInt8]
        /// `errno` when reading ended in an error (a reset) instead of EOF.
        var error: Int32?
    }

    static func exchange(_ bytes: [UInt8], port: Int) async throws -> Answer {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.run(bytes, port: port) })
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var call: String
        var errno: Int32
        var description: String { "\(self.call): \(String(cString: strerror(self.errno)))" }
    }

    private static func run(_ bytes: [UInt8], port: Int) throws -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", errno: errno) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(call: "connect", errno: errno) }

        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(call: "send", errno: errno) }
            sent += n
        }
        guard shutdown(fd, Int32(SHUT_WR)) == 0 else { throw Failure(call: "shutdown", errno: errno) }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return Answer(received: received, error: nil) }
            if n < 0 {
                if errno == EINTR { continue }
                return Answer(received: received, error: errno)
            }
            received += buffer[0..<n]
        }
    }
}

/// A target that keeps every byte of the first connection and hands them over at its EOF.
final class SinkServer: Sendable {
    let port: Int
    /// The bytes the first connection carried, once it sent EOF or closed.
    let firstConnection: EventLoopFuture<[UInt8]>
    private let channel: Channel

    private init(channel: Channel, firstConnection: EventLoopFuture<[UInt8]>) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.firstConnection = firstConnection
    }

    static func start() async throws -> SinkServer {
        let group = MultiThreadedEventLoopGroup.singleton
        let first = group.any().makePromise(of: [UInt8].self)
        // Bounded: a target that is never reached fails the test instead of hanging it.
        let timeout = first.futureResult.eventLoop.scheduleTask(in: .milliseconds(Int64(TestTime.scaled(seconds: 20) * 1000))) {
            first.fail(NeverReached())
        }
        first.futureResult.whenComplete { _ in timeout.cancel() }
        let channel = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SinkHandler(done: first))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return SinkServer(channel: channel, firstConnection: first.futureResult)
    }

    func shutdown() async {
        try? await self.channel.close()
    }

    struct NeverReached: Error, CustomStringConvertible {
        var description: String { "no connection reached the target and ended within \(TestTime.scaled(seconds: 20)) s" }
    }
}

private final class SinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var received: [UInt8] = []
    private let done: EventLoopPromise<[UInt8]>

    init(done: EventLoopPromise<[UInt8]>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received += Self.unwrapInboundIn(data).readableBytesView
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            self.done.succeed(self.received)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.done.succeed(self.received)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
