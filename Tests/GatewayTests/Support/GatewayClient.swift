import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import RelayProtocol

/// A real client of the gateway for tests: plain HTTP requests, and WebSocket upgrades done
/// with NIO's own client upgrader, so the gateway is exercised the way a relay uses it.
enum GatewayClient {
    /// A complete HTTP response.
    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: String
    }

    enum UpgradeResult: Sendable {
        case upgraded(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case notUpgraded(NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>)
    }

    enum ClientError: Error, CustomStringConvertible {
        case notUpgraded(Response)
        case upgradedUnexpectedly
        case incompleteResponse

        var description: String {
            switch self {
            case .notUpgraded(let response): "no upgrade: \(response.status.code) \(response.body)"
            case .upgradedUnexpectedly: "the gateway upgraded a request it should have refused"
            case .incompleteResponse: "the connection ended before a complete response"
            }
        }
    }

    /// The headers a relay sends on the upgrade.
    static func tunnelHeaders(token: String?, contentType: String? = "application/proto") -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        return headers
    }

    // MARK: Plain HTTP

    static func get(port: Int, path: String, headers: HTTPHeaders = [:], tls: NIOSSLContext? = nil) async throws -> Response {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.addTLS(tls, to: channel)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        var headers = headers
        headers.add(name: "Host", value: "127.0.0.1:\(port)")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(contentsOf: [.head(head), .end(nil)])
            return try await Self.readResponse(inbound)
        }
    }

    // MARK: WebSocket

    /// Sends the upgrade request; the caller handles the result (and must close its channel).
    static func upgrade(
        port: Int,
        host: String = "127.0.0.1",
        headers: HTTPHeaders,
        path: String = GatewayPath.webSocket,
        tls: NIOSSLContext? = nil
    ) async throws -> UpgradeResult {
        let negotiated = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.addTLS(tls, to: channel)
                    let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeResult>(
                        // The gateway sends chunks of up to 512 KiB in one frame.
                        maxFrameSize: 1 << 21,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                .upgraded(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                            }
                        }
                    )
                    var requestHeaders = headers
                    requestHeaders.add(name: "Host", value: ListenAddress(host: host, port: port).description)
                    requestHeaders.add(name: "Content-Length", value: "0")
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<UpgradeResult>(
                        upgradeRequestHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: requestHeaders),
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                .notUpgraded(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                            }
                        }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                }
            }
        return try await negotiated.get()
    }

    /// The response to an upgrade request that the gateway is expected to refuse.
    static func refusedUpgrade(port: Int, headers: HTTPHeaders, path: String = GatewayPath.webSocket) async throws -> Response {
        switch try await Self.upgrade(port: port, headers: headers, path: path) {
        case .upgraded(let channel):
            try await channel.executeThenClose { _, _ in }
            throw ClientError.upgradedUnexpectedly
        case .notUpgraded(let channel):
            return try await channel.executeThenClose { inbound, _ in try await Self.readResponse(inbound) }
        }
    }

    /// Opens a tunnel WebSocket, runs `body` with it, then closes it.
    static func withTunnel<Result>(
        port: Int,
        host: String = "127.0.0.1",
        token: String,
        tls: NIOSSLContext? = nil,
        _ body: (TunnelConnection) async throws -> Result
    ) async throws -> Result {
        switch try await Self.upgrade(port: port, host: host, headers: Self.tunnelHeaders(token: token), tls: tls) {
        case .upgraded(let channel):
            return try await channel.executeThenClose { inbound, outbound in
                try await body(TunnelConnection(inbound: inbound, outbound: outbound, allocator: channel.channel.allocator))
            }
        case .notUpgraded(let channel):
            let response = try await channel.executeThenClose { inbound, _ in try await Self.readResponse(inbound) }
            throw ClientError.notUpgraded(response)
        }
    }

    // MARK: Helpers

    private static func addTLS(_ context: NIOSSLContext?, to channel: Channel) throws {
        guard let context else { return }
        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
    }

    private static func readResponse(_ inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>) async throws -> Response {
        var head: HTTPResponseHead?
        var body = ByteBuffer()
        for try await part in inbound {
            switch part {
            case .head(let received): head = received
            case .body(var bytes): body.writeBuffer(&bytes)
            case .end:
                guard let head else { throw ClientError.incompleteResponse }
                return Response(status: head.status, headers: head.headers, body: String(buffer: body))
            }
        }
        throw ClientError.incompleteResponse
    }
}

/// The client end of one tunnel: writes chunks, reads chunk data, watches for the close frame.
final class TunnelConnection {
    private var inbound: NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    private let allocator: ByteBufferAllocator
    /// Data received and not yet consumed by a `read…` call.
    private var received: [UInt8] = []
    enum State: Equatable {
        case open
        /// The gateway sent a close frame with this code, or (nil) the connection just ended.
        case closed(WebSocketErrorCode?)
    }

    private(set) var state = State.open

    init(
        inbound: NIOAsyncChannelInboundStream<WebSocketFrame>,
        outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>,
        allocator: ByteBufferAllocator
    ) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.allocator = allocator
    }

    // MARK: Sending

    /// The tunnel's first message as the relay builds it (SPEC §6.4), plus optional early data.
    func sendConnect(target: String, credentials: BasicCredentials?, earlyData: String = "") async throws {
        var head = "CONNECT \(target) HTTP/1.1\r\n"
        if let credentials { head += "Proxy-Authorization: \(credentials.headerValue)\r\n" }
        head += "\r\n" + earlyData
        try await self.send(head)
    }

    func send(_ text: String) async throws {
        try await self.send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await self.sendMessage(Chunk.encode(ByteBuffer(bytes: bytes)))
    }

    /// Any binary message, valid chunk or not.
    func sendMessage(_ payload: ByteBuffer) async throws {
        // Clients mask every frame (RFC 6455 §5.3); NIO's encoder applies the key.
        try await self.outbound.write(WebSocketFrame(fin: true, opcode: .binary, maskKey: .random(), data: payload))
    }

    // MARK: Receiving

    /// The gateway's response head (up to and including the blank line).
    func readResponseHead() async throws -> String {
        while true {
            if let end = self.received.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = Array(self.received[..<end.upperBound])
                self.received.removeSubrange(..<end.upperBound)
                return String(decoding: head, as: UTF8.self)
            }
            guard try await self.receiveFrame() else { throw TunnelConnectionError.closedBefore("a response head") }
        }
    }

    /// Exactly `count` bytes of tunnel data.
    func read(count: Int) async throws -> [UInt8] {
        while self.received.count < count {
            guard try await self.receiveFrame() else { throw TunnelConnectionError.closedBefore("\(count) bytes") }
        }
        defer { self.received.removeFirst(count) }
        return Array(self.received.prefix(count))
    }

    /// Everything until the gateway closes the tunnel; returns the remaining data.
    func readUntilClosed() async throws -> [UInt8] {
        while try await self.receiveFrame() {}
        defer { self.received = [] }
        return self.received
    }

    /// One frame; false once the tunnel is closed.
    private func receiveFrame() async throws -> Bool {
        guard self.state == .open else { return false }
        guard let frame = try await self.inbound.next() else {
            self.state = .closed(nil)
            return false
        }
        switch frame.opcode {
        case .binary:
            var data = try Chunk.decode(frame.unmaskedData)
            self.received += data.readBytes(length: data.readableBytes) ?? []
        case .connectionClose:
            var payload = frame.unmaskedData
            self.state = .closed(payload.readWebSocketErrorCode())
            return false
        default:
            break
        }
        return true
    }
}

enum TunnelConnectionError: Error, CustomStringConvertible {
    case closedBefore(String)

    var description: String {
        switch self {
        case .closedBefore(let what): "the tunnel closed before \(what) arrived"
        }
    }
}
