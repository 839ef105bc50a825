import Foundation
import RelayProtocol
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import TunnelIO

/// The reference upstream gateway (SPEC §7): serves the CA certificate, accepts tunnel
/// WebSockets from relays, and connects each tunnel to the target its CONNECT head names.
///
/// Per accepted connection the pipeline is
/// `[NIOSSLServerHandler] → HTTP server + WebSocket upgrader → HTTPRequestHandler`; an upgrade
/// replaces the HTTP handlers with `WebSocket frames → ChunkFrameHandler → TunnelHandler`.
public enum Gateway {
    /// Binds the listener and returns once it accepts connections.
    public static func start(_ configuration: GatewayConfiguration) async throws -> RunningGateway {
        let tokens: TokenTable
        do {
            tokens = try TokenTable(configuration.tokens)
        } catch {
            throw GatewayError.invalidTokens(error)
        }
        guard configuration.maxTunnelsPerSession > 0 else {
            throw GatewayError.invalidTunnelLimit(configuration.maxTunnelsPerSession)
        }
        let sslContext = try Self.makeSSLContext(configuration.transport)
        let caCertificate = try configuration.caCertificatePath.map(Self.readCACertificate)

        let services = ConnectionServices(
            policy: WebSocketUpgradePolicy(tokens: tokens),
            tunnelSettings: TunnelHandler.Settings(
                accessPolicy: configuration.accessPolicy,
                tokens: tokens,
                mapHost: Dictionary(configuration.mapHost.map { ($0.key.lowercased(), $0.value) }) { _, last in last },
                dialer: .tcp(timeout: configuration.dialTimeout)
            ),
            caCertificate: caCertificate,
            sslContext: sslContext,
            maxTunnelsPerSession: configuration.maxTunnelsPerSession,
            registry: GatewayConnections(),
            logger: configuration.logger
        )

        let serverChannel: Channel
        do {
            serverChannel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: TunnelTuning.writeBufferWaterMark)
                .childChannelOption(.recvAllocator, value: TunnelTuning.receiveAllocator)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try services.initialize(channel) }
                }
                .bind(host: configuration.listen.host, port: configuration.listen.port)
                .get()
        } catch {
            throw GatewayError.cannotListen(address: configuration.listen.description, error)
        }
        let running = RunningGateway(serverChannel: serverChannel, registry: services.registry)
        configuration.logger.info("listening", metadata: [
            "address": "\(running.listenAddress)",
            "tls": "\(sslContext != nil)",
            "sessions": "\(tokens.entries.count)",
        ])
        return running
    }

    private static func makeSSLContext(_ transport: GatewayConfiguration.Transport) throws -> NIOSSLContext? {
        guard case .tls(let certificateChainPath, let privateKeyPath) = transport else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateChainPath)
            let key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) },
                privateKey: .privateKey(key)
            )
            tls.applicationProtocols = ["http/1.1"]
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw GatewayError.invalidTLSFiles(certificateChainPath: certificateChainPath, privateKeyPath: privateKeyPath, error)
        }
    }

    /// Read once at start: a missing file is reported before any client asks for it.
    private static func readCACertificate(_ path: String) throws -> ByteBuffer {
        guard let contents = FileManager.default.contents(atPath: path) else {
            throw GatewayError.cannotReadCACertificate(path: path)
        }
        return ByteBuffer(bytes: contents)
    }
}

/// A gateway that is listening.
public final class RunningGateway: Sendable {
    /// The address the listener is bound to (with the real port when 0 was asked).
    public let localAddress: SocketAddress
    public var port: Int { self.localAddress.port ?? 0 }

    /// `ADDR:PORT` of the listener, IPv6 in brackets: what `relay-gateway` prints on start.
    public var listenAddress: ListenAddress {
        ListenAddress(host: self.localAddress.ipAddress ?? "?", port: self.port)
    }

    private let serverChannel: Channel
    private let registry: GatewayConnections

    init(serverChannel: Channel, registry: GatewayConnections) {
        self.serverChannel = serverChannel
        self.registry = registry
        self.localAddress = serverChannel.localAddress!
    }

    /// Tunnels open (or being upgraded) for `session`.
    public func openTunnels(session: String) -> Int {
        self.registry.openTunnels(session: session)
    }

    /// Stops accepting, then closes every connection: tunnels get a WebSocket close frame and
    /// their targets are closed with them. Returns once all are closed, or after `gracePeriod`
    /// when a peer does not even take the close frame.
    public func shutdown(gracePeriod: TimeAmount = .seconds(2)) async {
        try? await self.serverChannel.close()
        await self.registry.closeAll(gracePeriod: gracePeriod)
    }
}

public enum GatewayError: Error, CustomStringConvertible {
    case invalidTokens(TokenTableError)
    case invalidTunnelLimit(Int)
    case invalidTLSFiles(certificateChainPath: String, privateKeyPath: String, Error)
    case cannotReadCACertificate(path: String)
    case cannotListen(address: String, Error)

    public var description: String {
        switch self {
        case .invalidTokens(let error):
            "invalid tokens: \(error)"
        case .invalidTunnelLimit(let limit):
            "the tunnel limit per session must be at least 1, not \(limit)"
        case .invalidTLSFiles(let chain, let key, let error):
            "cannot load the TLS certificate \(chain) and key \(key) (PEM expected): \(error)"
        case .cannotReadCACertificate(let path):
            "cannot read the CA certificate \(path)"
        case .cannotListen(let address, let error):
            "cannot listen on \(address): \(error)"
        }
    }
}

/// What every accepted connection shares, and how its pipeline is built.
private struct ConnectionServices: Sendable {
    let policy: WebSocketUpgradePolicy
    let tunnelSettings: TunnelHandler.Settings
    let caCertificate: ByteBuffer?
    let sslContext: NIOSSLContext?
    let maxTunnelsPerSession: Int
    let registry: GatewayConnections
    let logger: Logger

    /// Runs on the connection's event loop.
    func initialize(_ channel: Channel) throws {
        self.registry.register(channel)
        let pipeline = channel.pipeline.syncOperations
        if let sslContext {
            try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
        }
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: ChunkFrameHandler.defaultMaximumMessageSize,
            // ChunkFrameHandler handles frame errors itself: it logs and closes this tunnel only.
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                channel.eventLoop.makeCompletedFuture { try self.shouldUpgrade(channel: channel, head: head) }
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture { try self.startTunnel(on: channel, head: head) }
            }
        )
        try pipeline.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // From here on the connection speaks WebSocket: the HTTP handler must go.
                    if let httpContext = try? context.pipeline.syncOperations.context(handlerType: HTTPRequestHandler.self) {
                        context.pipeline.syncOperations.removeHandler(context: httpContext, promise: nil)
                    }
                }
            ),
            withErrorHandling: true
        )
        try pipeline.addHandler(HTTPRequestHandler(caCertificate: self.caCertificate, policy: self.policy, logger: self.logger))
    }

    /// nil (no upgrade) when the policy refuses: the HTTP handler then explains why. A full
    /// session is an error instead, as the request head alone cannot show it.
    private func shouldUpgrade(channel: Channel, head: HTTPRequestHead) throws -> HTTPHeaders? {
        guard GatewayPath.path(of: head.uri) == GatewayPath.webSocket,
              case .success(let identity) = self.policy.decide(head)
        else { return nil }
        guard self.registry.admitTunnel(on: channel, session: identity.session, limit: self.maxTunnelsPerSession) else {
            throw UpgradeRefusal.tooManyTunnels(limit: self.maxTunnelsPerSession)
        }
        return HTTPHeaders()
    }

    private func startTunnel(on channel: Channel, head: HTTPRequestHead) throws {
        // `shouldUpgrade` accepted this very head and the policy is pure, so this cannot fail;
        // if it ever did, the connection must not stay open without a handler.
        let identity: TunnelIdentity
        switch self.policy.decide(head) {
        case .success(let accepted):
            identity = accepted
        case .failure(let refusal):
            channel.close(promise: nil)
            throw refusal
        }
        var logger = self.logger
        logger[metadataKey: "peer"] = "\(channel.remoteAddress.map(\.compactDescription) ?? "?")"
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addTunnelFrameHandlers(.init(role: .server, keepaliveInterval: nil), logger: logger)
        try pipeline.addHandler(TunnelHandler(identity: identity, settings: self.tunnelSettings, logger: logger))
    }
}

extension SocketAddress {
    /// `127.0.0.1:80` / `[::1]:80`, for logs (the default description repeats the address).
    var compactDescription: String {
        ListenAddress(host: self.ipAddress ?? "?", port: self.port ?? 0).description
    }
}
