import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import TunnelIO

/// Why a tunnel's WebSocket to the gateway could not be opened.
enum WebSocketConnectError: Error, CustomStringConvertible {
    /// Not open within the handshake timeout (SPEC §6.3: the client gets 504).
    case timedOut(TimeAmount)
    /// The gateway answered the upgrade with something other than 101.
    case upgradeRefused(HTTPResponseStatus)
    /// TCP connect or TLS failed, or the connection broke during the upgrade.
    case failed(Error)
    /// The client went away first.
    case cancelled

    var description: String {
        switch self {
        case .timedOut(let timeout):
            "the gateway did not complete the WebSocket handshake within \(Double(timeout.nanoseconds) / 1e9) s"
        case .upgradeRefused(let status):
            "the gateway refused the WebSocket upgrade with \(status.code) \(status.reasonPhrase)"
                + (status == .unauthorized ? " (check the session token)" : "")
        case .failed(let error as HTTPParserError):
            "the gateway's answer to the WebSocket upgrade is not HTTP (\(error))"
        case .failed(let error):
            "cannot reach the gateway: \(error)"
        case .cancelled:
            "the client closed the connection during the WebSocket handshake"
        }
    }
}

/// What the typed upgrade negotiation resolves to.
private enum UpgradeOutcome: Sendable {
    case upgraded(Channel)
    case refused(EventLoopFuture<HTTPResponseStatus>)
}

/// Opens one WebSocket to the gateway per tunnel: TCP (+ TLS for `wss://`), then the HTTP
/// upgrade with the tunnel's headers, all bounded by the handshake timeout. The returned
/// channel speaks chunks: a `ChunkFrameHandler` (client role) is already in its pipeline.
struct WebSocketConnector: Sendable {
    let url: WebSocketURL
    let tlsContext: NIOSSLContext?
    let handshakeTimeout: TimeAmount
    let keepaliveInterval: TimeAmount?
    let logger: Logger
    /// Shared by all tunnels: the gateway's address is looked up once per 30 s, not per tunnel.
    let resolver = CachingResolver(timeToLive: .seconds(30))
    /// The same for every tunnel (NIO's upgrader adds the per-connection key).
    let upgradeRequest: HTTPRequestHead

    init(configuration: RelayConfiguration) throws {
        self.url = configuration.webSocketURL
        self.upgradeRequest = Self.upgradeRequestHead(url: configuration.webSocketURL, token: configuration.token)
        self.handshakeTimeout = configuration.handshakeTimeout
        self.keepaliveInterval = configuration.keepaliveInterval
        self.logger = configuration.logger
        if configuration.webSocketURL.isSecure {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let bundle = configuration.trustRootsFile {
                tls.trustRoots = .file(bundle)
            }
            self.tlsContext = try NIOSSLContext(configuration: tls)
        } else {
            self.tlsContext = nil
        }
    }

    /// One attempt: `future` yields the open WebSocket channel; `cancel()` abandons it.
    final class Attempt {
        let future: EventLoopFuture<Channel>
        private let channel: EventLoopFuture<Channel>

        fileprivate init(future: EventLoopFuture<Channel>, channel: EventLoopFuture<Channel>) {
            self.future = future
            self.channel = channel
        }

        /// Closes the half-open WebSocket connection, if there is one yet.
        func cancel() {
            self.channel.whenSuccess { $0.close(promise: nil) }
        }
    }

    /// Must be called on `eventLoop`, which is also where the WebSocket channel will live,
    /// so that it can be glued to the client's channel without hopping threads.
    func connect(on eventLoop: EventLoop) -> Attempt {
        let outcome = eventLoop.makePromise(of: UpgradeOutcome.self)
        let upgradeRequest = self.upgradeRequest
        let maximumMessageSize = ChunkFrameHandler.defaultMaximumMessageSize
        let chunkConfiguration = ChunkFrameHandler.Configuration(
            role: .client, maximumMessageSize: maximumMessageSize, keepaliveInterval: self.keepaliveInterval
        )
        let logger = self.logger
        let tlsContext = self.tlsContext
        let serverHostname = Self.isIPAddress(self.url.host) ? nil : self.url.host

        let bootstrap = ClientBootstrap(group: eventLoop)
            .resolver(self.resolver.resolver(on: eventLoop))
            .connectTimeout(self.handshakeTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: TunnelTuning.writeBufferWaterMark)
            .channelOption(.recvAllocator, value: TunnelTuning.receiveAllocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    // NIO's upgrader, but frames are masked in one word-wide pass (MaskingFrameEncoder).
                    let upgrader = MaskingWebSocketClientUpgrader<UpgradeOutcome>(
                        maxFrameSize: maximumMessageSize,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addTunnelFrameHandlers(chunkConfiguration, logger: logger)
                                return UpgradeOutcome.upgraded(channel)
                            }
                        }
                    )
                    let upgrade = NIOTypedHTTPClientUpgradeConfiguration<UpgradeOutcome>(
                        upgradeRequestHead: upgradeRequest,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            // The refused response head is passed down the pipeline once the upgrade
                            // handler steps aside: catch its status for the error message.
                            let status = channel.eventLoop.makePromise(of: HTTPResponseStatus.self)
                            return channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(RefusedUpgradeHandler(status: status))
                                return UpgradeOutcome.refused(status.futureResult)
                            }
                        }
                    )
                    let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: upgrade)
                    )
                    outcome.completeWith(negotiated)
                }
            }
        let channel = bootstrap.connect(host: self.url.host, port: self.url.port)

        channel.whenFailure { outcome.fail($0) }
        // A connection that closes before the upgrade completes fails the outcome too.
        channel.whenSuccess { channel in channel.closeFuture.whenComplete { _ in outcome.fail(ChannelError.eof) } }

        let result = eventLoop.makePromise(of: Channel.self)
        let timeout = self.handshakeTimeout
        let timer = eventLoop.scheduleTask(in: timeout) {
            result.fail(WebSocketConnectError.timedOut(timeout))
        }
        outcome.futureResult.whenComplete { outcome in
            switch outcome {
            case .success(.upgraded(let channel)):
                result.succeed(channel)
            case .success(.refused(let status)):
                status.whenComplete { status in
                    result.fail(WebSocketConnectError.upgradeRefused((try? status.get()) ?? .badGateway))
                }
            case .failure(let error):
                result.fail(WebSocketConnectError.failed(error))
            }
        }
        result.futureResult.whenComplete { outcome in
            timer.cancel()
            if case .failure = outcome {
                // Timed out, refused or broken: nothing of this connection is reused.
                channel.whenSuccess { $0.close(promise: nil) }
            }
        }
        return Attempt(future: result.futureResult, channel: channel)
    }

    private static func upgradeRequestHead(url: WebSocketURL, token: String) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.hostHeader)
        headers.add(name: "Authorization", value: "Bearer \(token)")
        headers.add(name: "Content-Type", value: "application/proto")
        headers.add(name: "Content-Length", value: "0")
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: url.pathAndQuery, headers: headers)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

/// Catches the status of a refused upgrade's response head and closes the connection.
private final class RefusedUpgradeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let status: EventLoopPromise<HTTPResponseStatus>

    init(status: EventLoopPromise<HTTPResponseStatus>) {
        self.status = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data) {
            self.status.succeed(head.status)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.status.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
