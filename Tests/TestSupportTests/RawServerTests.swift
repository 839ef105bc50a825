import Foundation
import Testing
import TestSupport

@Suite struct RawServerTests {
    @Test func echoServerEchoesUntilTheClientHalfCloses() async throws {
        let server = try await EchoServer.start()
        let payload = Array("ping through the tunnel\n".utf8) + HTTPSTarget.expectedBytes(count: 100_000)
        let echoed = try await RawTCP.exchange(port: server.port, sending: payload)
        await server.shutdown()
        #expect(echoed == payload)
    }

    @Test func silentServerAcceptsButNeverAnswers() async throws {
        let server = try await SilentServer.start()
        let fd = try RawTCP.connect(port: server.port)
        defer { close(fd) }
        try await server.waitForAcceptedConnections(1, timeout: .seconds(5))
        #expect(server.acceptedConnections == 1)
        #expect(server.openConnections == 1)

        _ = "hello?".withCString { send(fd, $0, 6, Int32(MSG_NOSIGNAL)) }
        // Nothing to read: a non-blocking recv finds no data (and no EOF).
        var byte: UInt8 = 0
        let received = recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        #expect(received == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))

        // Shutting down closes the accepted connection too: the client sees EOF.
        await server.shutdown()
        let afterShutdown = recv(fd, &byte, 1, 0)
        #expect(afterShutdown == 0 || (afterShutdown == -1 && errno == ECONNRESET))
    }

    @Test func silentServerSeesClientsLeave() async throws {
        let server = try await SilentServer.start()
        let fd = try RawTCP.connect(port: server.port)
        try await server.waitForOpenConnections(1, timeout: .seconds(5))
        close(fd)
        try await server.waitForOpenConnections(0, timeout: .seconds(5))
        #expect(server.acceptedConnections == 1)
        await server.shutdown()
    }
}
