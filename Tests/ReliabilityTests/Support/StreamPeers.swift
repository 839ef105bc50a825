import Foundation
import NIOCore
import NIOPosix
import TestSupport

/// How far a stream of ``DeterministicBytes`` has got, shared by the event loop that moves it
/// and the test that waits on it.
struct StreamProgress: Sendable {
    /// Sender: bytes the kernel has taken (write completed). Receiver: bytes received and checked.
    var bytes = 0
    /// Receiver: offset of the first byte that differs from the expected stream.
    var mismatchAt: Int?
    /// Sender: whether the channel is writable (false while backpressure holds it).
    var writable = true
    var closed = false
    /// Client: the response head of the CONNECT (up to and including the blank line).
    var responseHead: String?
}

/// Writes `total` bytes of ``DeterministicBytes`` while the channel is writable, resuming when it
/// becomes writable again: a sender that never buffers more than NIO's write watermark itself,
/// so whatever piles up is the relay's doing.
final class DeterministicSender {
    private let total: Int
    private let progress: Waitable<StreamProgress>
    private var offset = 0
    private let closeWhenDone: Bool

    init(total: Int, progress: Waitable<StreamProgress>, closeWhenDone: Bool) {
        self.total = total
        self.progress = progress
        self.closeWhenDone = closeWhenDone
    }

    func pump(context: ChannelHandlerContext) {
        let progress = self.progress
        while context.channel.isWritable, self.offset < self.total {
            let count = min(DeterministicBytes.pieceSize, self.total - self.offset)
            var buffer = context.channel.allocator.buffer(capacity: count)
            let offset = self.offset
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                DeterministicBytes.fill(UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), offset: offset)
                return count
            }
            self.offset += count
            let done = self.offset == self.total
            let written = context.writeAndFlush(NIOAny(buffer))
            written.whenSuccess { progress.update { $0.bytes += count } }
            if done, self.closeWhenDone {
                // Writes complete in order: this one done means everything is out.
                written.assumeIsolated().whenComplete { _ in context.close(mode: .output, promise: nil) }
            }
        }
        let writable = context.channel.isWritable
        progress.update { $0.writable = writable }
    }
}

/// Checks every received byte against ``DeterministicBytes`` (a stronger check than a digest:
/// a failure says where the stream went wrong) and counts them.
final class DeterministicReceiver {
    private let progress: Waitable<StreamProgress>
    private var offset = 0
    private var scratch = [UInt8](repeating: 0, count: DeterministicBytes.pieceSize)
    private var mismatch: Int?

    init(progress: Waitable<StreamProgress>) {
        self.progress = progress
    }

    func receive(_ buffer: ByteBuffer) {
        let count = buffer.readableBytes
        if self.mismatch == nil {
            if self.scratch.count < count { self.scratch = [UInt8](repeating: 0, count: count) }
            let offset = self.offset
            let equal = self.scratch.withUnsafeMutableBytes { expected -> Bool in
                let slice = UnsafeMutableRawBufferPointer(rebasing: expected[0..<count])
                DeterministicBytes.fill(slice, offset: offset)
                return buffer.withUnsafeReadableBytes { received in
                    memcmp(received.baseAddress!, slice.baseAddress!, count) == 0
                }
            }
            if !equal { self.mismatch = self.offset }
        }
        self.offset += count
        let (total, mismatch) = (self.offset, self.mismatch)
        self.progress.update {
            $0.bytes = total
            $0.mismatchAt = mismatch
        }
    }
}

// MARK: - The target behind the gateway

/// A TCP server for one connection at a time that either streams ``DeterministicBytes`` to its
/// peer (a download) or takes a stream from it (an upload), starting with reading paused.
final class StreamTarget: Sendable {
    enum Mode: Sendable {
        /// Send `total` bytes as fast as the peer takes them, then close.
        case send(total: Int)
        /// Receive and check; reading is paused until ``resumeReading()``.
        case receivePaused
    }

    let port: Int
    let progress: Waitable<StreamProgress>
    private let server: Channel
    private let connections: ChannelSet

    private init(server: Channel, progress: Waitable<StreamProgress>, connections: ChannelSet) {
        self.server = server
        self.progress = progress
        self.connections = connections
        self.port = server.localAddress!.port!
    }

    static func start(_ mode: Mode) async throws -> StreamTarget {
        let progress = Waitable(StreamProgress())
        let connections = ChannelSet()
        var bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        if case .receivePaused = mode {
            bootstrap = bootstrap.childChannelOption(.autoRead, value: false)
        }
        let server = try await bootstrap
            .childChannelInitializer { channel in
                connections.insert(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(StreamTargetHandler(mode: mode, progress: progress))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StreamTarget(server: server, progress: progress, connections: connections)
    }

    /// Starts (or resumes) reading on every accepted connection.
    func resumeReading() async throws {
        for channel in self.connections.all {
            try await channel.setOption(.autoRead, value: true).get()
        }
    }

    func shutdown() async {
        try? await self.server.close()
        await self.connections.closeAll()
    }
}

private final class StreamTargetHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let mode: StreamTarget.Mode
    private let progress: Waitable<StreamProgress>
    private var sender: DeterministicSender?
    private let receiver: DeterministicReceiver

    init(mode: StreamTarget.Mode, progress: Waitable<StreamProgress>) {
        self.mode = mode
        self.progress = progress
        self.receiver = DeterministicReceiver(progress: progress)
    }

    func channelActive(context: ChannelHandlerContext) {
        if case .send(let total) = self.mode {
            self.sender = DeterministicSender(total: total, progress: self.progress, closeWhenDone: true)
            self.sender?.pump(context: context)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .receivePaused = self.mode {
            self.receiver.receive(Self.unwrapInboundIn(data))
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let sender = self.sender {
            sender.pump(context: context)
        } else {
            let writable = context.channel.isWritable
            self.progress.update { $0.writable = writable }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.progress.update { $0.closed = true }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

// MARK: - The client in front of the relay

/// A client that opens a CONNECT tunnel through the relay and then either takes a stream of
/// ``DeterministicBytes`` with reading paused until told (a download by a client that stops
/// reading), or sends one (an upload).
final class StreamClient: Sendable {
    enum Mode: Sendable {
        /// After the tunnel's response head, read nothing until ``resumeReading()``.
        case receivePaused
        /// After the tunnel's response head, send `total` bytes and then close the output.
        case send(total: Int)
    }

    let progress: Waitable<StreamProgress>
    let channel: Channel

    private init(channel: Channel, progress: Waitable<StreamProgress>) {
        self.channel = channel
        self.progress = progress
    }

    static func connect(relayPort: Int, target: String, mode: Mode) async throws -> StreamClient {
        let progress = Waitable(StreamProgress())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(StreamClientHandler(target: target, mode: mode, progress: progress))
                }
            }
            .connect(host: "127.0.0.1", port: relayPort).get()
        return StreamClient(channel: channel, progress: progress)
    }

    func resumeReading() async throws {
        try await self.channel.setOption(.autoRead, value: true).get()
    }

    func close() async {
        try? await self.channel.close()
    }
}

private final class StreamClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let target: String
    private let mode: StreamClient.Mode
    private let progress: Waitable<StreamProgress>
    private var head: ByteBuffer? = ByteBuffer()
    private let receiver: DeterministicReceiver
    private var sender: DeterministicSender?

    init(target: String, mode: StreamClient.Mode, progress: Waitable<StreamProgress>) {
        self.target = target
        self.mode = mode
        self.progress = progress
        self.receiver = DeterministicReceiver(progress: progress)
    }

    func channelActive(context: ChannelHandlerContext) {
        let request = "CONNECT \(self.target) HTTP/1.1\r\nHost: \(self.target)\r\n\r\n"
        context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        // Reading is manual (autoRead off): one read for the response head.
        context.read()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = Self.unwrapInboundIn(data)
        guard var head = self.head else {
            self.receiver.receive(bytes)
            return
        }
        head.writeBuffer(&bytes)
        guard let end = head.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else {
            self.head = head
            return
        }
        let headLength = end.upperBound - head.readerIndex
        let text = head.readString(length: headLength) ?? ""
        self.head = nil
        self.progress.update { $0.responseHead = text }
        if head.readableBytes > 0 { self.receiver.receive(head) }
        guard text.hasPrefix("HTTP/1.1 200") else {
            context.close(promise: nil)
            return
        }
        if case .send(let total) = self.mode {
            self.sender = DeterministicSender(total: total, progress: self.progress, closeWhenDone: true)
            self.sender?.pump(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Still waiting for the head: ask for more. Afterwards only autoRead reads.
        if self.head != nil { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.sender?.pump(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.progress.update { $0.closed = true }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

// MARK: - Waiting for backpressure

/// Waits until `progress` shows a sender held back: not writable, and no byte accepted by the
/// kernel for `quiet`. No event says "the pipeline is full" (writability flips back and forth
/// while it fills), so this polls, with a deadline. `quiet` is long enough that a path which
/// still drains, only slowly (a debug build unmasking at a few MB/s), is not taken for held
/// back; both it and `timeout` stretch with `TestTime.scale`. Returns the bytes sent by then;
/// fails if the sender finished instead (everything was buffered somewhere: nothing held it back).
func waitForBackpressure(
    _ progress: Waitable<StreamProgress>, total: Int, quiet: Duration = .seconds(1), timeout: Duration = .seconds(60)
) async throws -> Int {
    let quiet = TestTime.scaled(quiet)
    let timeout = TestTime.scaled(timeout)
    let clock = ContinuousClock()
    var last = progress.current.bytes
    var lastChange = clock.now
    let deadline = clock.now + timeout
    while true {
        let now = progress.current
        if now.bytes != last || now.writable {
            last = now.bytes
            lastChange = clock.now
        } else if clock.now - lastChange >= quiet {
            return now.bytes
        }
        if now.bytes >= total || now.closed {
            throw BackpressureError.neverHeldBack(sent: now.bytes, total: total)
        }
        guard clock.now < deadline else { throw BackpressureError.timedOut(sent: now.bytes, after: timeout) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Watches a held-back sender for `window` and fails as soon as it makes progress: once the
/// other side has stopped reading, nothing more may leave the sender, however long it waits. An
/// observation window, not a synchronisation: "nothing happens" announces no event. (It also
/// catches a relay that does buffer, only slowly: a debug build masks at a few MB/s, and in one
/// second of "quiet" so slow a leak can look like a stall.) The window stretches with
/// `TestTime.scale`, as the slow drains it must catch do.
func expectStillHeldBack(_ progress: Waitable<StreamProgress>, at sent: Int, for window: Duration = .seconds(2)) async throws {
    let window = TestTime.scaled(window)
    let end = ContinuousClock.now + window
    while ContinuousClock.now < end {
        let now = progress.current.bytes
        guard now == sent else { throw BackpressureError.resumed(heldAt: sent, now: now, within: window) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

enum BackpressureError: Error, CustomStringConvertible {
    case neverHeldBack(sent: Int, total: Int)
    case timedOut(sent: Int, after: Duration)
    case resumed(heldAt: Int, now: Int, within: Duration)

    var description: String {
        switch self {
        case .resumed(let heldAt, let now, let window):
            "the sender looked held back at \(heldAt) bytes but had sent \(now) within \(window) more, with the other side still not reading"
        case .timedOut(let sent, let after):
            "backpressure did not hold the sender within \(after) (\(sent) bytes sent)"
        case .neverHeldBack(let sent, let total):
            "the sender was never held back: \(sent) of \(total) bytes went out while the other end was not reading"
        }
    }
}
