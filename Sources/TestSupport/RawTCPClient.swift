import NIOCore
import NIOPosix

/// A plain TCP client for tests that must control exactly which bytes go out and when
/// (a CONNECT head in 1-byte writes, head and payload in one write, a client that stops).
public final class RawTCPClient: Sendable {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let inbound: Inbound

    private final class Inbound: @unchecked Sendable {
        // Only touched from the test's task, one at a time.
        var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var received = ByteBuffer()
        var closed = false
        init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.iterator = iterator }
    }

    public struct Timeout: Error, CustomStringConvertible {
        public var received: String
        public var description: String { "timed out; received so far: \(self.received.debugDescription)" }
    }

    private init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
        self.inbound = Inbound(channel.inbound.makeAsyncIterator())
    }

    public static func connect(host: String = "127.0.0.1", port: Int) async throws -> RawTCPClient {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return RawTCPClient(channel: channel)
    }

    public var localPort: Int? { self.channel.channel.localAddress?.port }

    public func send(_ bytes: [UInt8]) async throws {
        try await self.channel.outbound.write(ByteBuffer(bytes: bytes))
    }

    public func send(_ text: String) async throws {
        try await self.send(Array(text.utf8))
    }

    /// Reads until `count` bytes have arrived in all (or EOF). Returns everything received so far.
    public func read(atLeast count: Int, timeout: Duration = .seconds(20)) async throws -> [UInt8] {
        try await self.read(timeout: timeout) { $0.readableBytes >= count }
    }

    /// Reads until the received bytes contain `marker` (or EOF).
    public func read(until marker: String, timeout: Duration = .seconds(20)) async throws -> String {
        let bytes = try await self.read(timeout: timeout) { String(buffer: $0).contains(marker) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads until the server closes the connection.
    public func readToEnd(timeout: Duration = .seconds(20)) async throws -> [UInt8] {
        try await self.read(timeout: timeout) { _ in false }
    }

    /// Everything received, as text, once the server has closed.
    public func readToEndAsString(timeout: Duration = .seconds(20)) async throws -> String {
        String(decoding: try await self.readToEnd(timeout: timeout), as: UTF8.self)
    }

    public var isClosedByPeer: Bool { self.inbound.closed }

    /// Drops the bytes read so far.
    public func discardReceived() {
        self.inbound.received.clear()
    }

    public func close() async {
        self.channel.outbound.finish()
        try? await self.channel.channel.close()
    }

    deinit {
        // A client dropped without close() (a test that threw) must still finish its writer:
        // NIOAsyncWriter traps when it is deinitialised unfinished.
        self.channel.outbound.finish()
        self.channel.channel.close(promise: nil)
    }

    private func read(timeout: Duration, until done: @escaping @Sendable (ByteBuffer) -> Bool) async throws -> [UInt8] {
        let inbound = self.inbound
        let channel = self.channel.channel
        let timedOut = LockedBox(false)
        let timeout = TestTime.scaled(timeout)
        let nanoseconds = Int64(timeout.components.seconds) * 1_000_000_000 + Int64(timeout.components.attoseconds / 1_000_000_000)
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            timedOut.withLock { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        while !done(inbound.received), !inbound.closed {
            do {
                guard var next = try await inbound.iterator.next() else {
                    inbound.closed = true
                    break
                }
                inbound.received.writeBuffer(&next)
            } catch {
                inbound.closed = true
                break
            }
        }
        if timedOut.withLock({ $0 }) {
            throw Timeout(received: String(buffer: inbound.received))
        }
        return Array(inbound.received.readableBytesView)
    }
}
