import Foundation
import Gateway
import Logging
import NIOCore
import NIOPosix

/// Sessions every test gateway accepts.
enum TestSessions {
    static let first = (session: "session-1", token: "token-1-secret")
    static let second = (session: "session-2", token: "token-2-secret")
    static let tokens = [first.session: first.token, second.session: second.token]

    static var firstCredentials: BasicCredentials { BasicCredentials(session: first.session, token: first.token) }
}

extension GatewayConfiguration {
    /// A plain-HTTP gateway on a free loopback port, quiet unless a test asks for logs.
    static func forTests(
        caCertificatePath: String? = nil,
        accessPolicy: AccessPolicy = AccessPolicy(),
        mapHost: [String: String] = [:],
        dialTimeout: TimeAmount = .seconds(5),
        maxTunnelsPerSession: Int = 16
    ) -> GatewayConfiguration {
        GatewayConfiguration(
            host: "127.0.0.1",
            port: 0,
            tokens: TestSessions.tokens,
            transport: .insecureHTTP,
            caCertificatePath: caCertificatePath,
            accessPolicy: accessPolicy,
            mapHost: mapHost,
            dialTimeout: dialTimeout,
            maxTunnelsPerSession: maxTunnelsPerSession,
            logger: Self.testLogger
        )
    }
}

extension GatewayConfiguration {
    /// Silent, unless GATEWAY_TEST_LOG is set (to a level: `debug`, `trace`, …).
    static var testLogger: Logger {
        guard let level = ProcessInfo.processInfo.environment["GATEWAY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) else {
            return Logger(label: "gateway-test", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "gateway-test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }
}

/// Runs `body` against a started gateway and shuts it down afterwards, also when `body` throws.
func withGateway<Result>(
    _ configuration: GatewayConfiguration = .forTests(),
    _ body: (RunningGateway) async throws -> Result
) async throws -> Result {
    let gateway = try await Gateway.start(configuration)
    do {
        let result = try await body(gateway)
        await gateway.shutdown()
        return result
    } catch {
        await gateway.shutdown()
        throw error
    }
}

/// A loopback port with nothing listening: bound once, then closed, so connecting is refused.
func refusedPort() async throws -> Int {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// A listener that never accepts and whose accept queue is full, so a new connection attempt
/// gets no answer at all (the kernel drops the SYN) and hangs until the dialler gives up:
/// a dial timeout that stays on loopback.
final class StalledListener: Sendable {
    let port: Int
    private let server: Channel
    private let fillers: [Channel]

    private init(port: Int, server: Channel, fillers: [Channel]) {
        self.port = port
        self.server = server
        self.fillers = fillers
    }

    static func start() async throws -> StalledListener {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 0)
            // Never reading the server socket means never accepting: the queue only fills.
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress!.port!
        // Connect until a connection attempt is left unanswered: that proves the queue is full
        // (how many fit depends on the kernel: one on Linux with backlog 0).
        var fillers: [Channel] = []
        for _ in 0..<64 {
            do {
                let filler = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.milliseconds(300))
                    .connect(host: "127.0.0.1", port: port).get()
                fillers.append(filler)
            } catch ChannelError.connectTimeout {
                return StalledListener(port: port, server: server, fillers: fillers)
            }
        }
        try? await server.close()
        throw StalledListenerError.queueNeverFilled
    }

    func shutdown() async {
        for filler in self.fillers { try? await filler.close() }
        try? await self.server.close()
    }
}

enum StalledListenerError: Error {
    case queueNeverFilled
}
