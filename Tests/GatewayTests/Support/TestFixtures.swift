import Foundation
import Gateway
import Logging
import NIOCore
import RelayProtocol
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
            listen: .loopbackAnyPort,
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

