import Foundation

/// CONNECT tunnels through a relay, from a raw TCP client: what every end-to-end and
/// reliability test that talks to the relay's port itself needs.
public enum ConnectTunnel {
    /// The relay's answer once a tunnel is up.
    public static let established = "HTTP/1.1 200 Connection Established\r\n\r\n"

    /// Connects to the relay, sends a CONNECT for `target` and returns the client with the
    /// response head (which may be followed by bytes still in the client's buffer).
    public static func open(relayPort: Int, target: String, timeout: Duration = .seconds(20)) async throws -> (client: RawTCPClient, head: String) {
        let client = try await RawTCPClient.connect(port: relayPort)
        try await client.send("CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\r\n")
        let received = try await client.read(until: "\r\n\r\n", timeout: timeout)
        let head = received.range(of: "\r\n\r\n").map { String(received[..<$0.upperBound]) } ?? received
        return (client, head)
    }

    /// ``open(relayPort:target:timeout:)`` that insists on a 200: returns the client with
    /// nothing buffered, or closes it and throws ``Refused`` with the head.
    public static func openEstablished(relayPort: Int, target: String, timeout: Duration = .seconds(20)) async throws -> RawTCPClient {
        let (client, head) = try await Self.open(relayPort: relayPort, target: target, timeout: timeout)
        guard head.hasPrefix("HTTP/1.1 200 ") else {
            await client.close()
            throw Refused(head: head)
        }
        client.discardReceived()
        return client
    }

    /// The relay did not answer a CONNECT with 200.
    public struct Refused: Error, CustomStringConvertible {
        public var head: String
        public var description: String { "the tunnel was refused: \(self.head.debugDescription)" }
    }

    /// A tunnel to an echo at `target` that has carried one round trip, still open. `tunnel`
    /// names it in the errors ("a fresh tunnel after the fault", "tunnel 12").
    public static func openEcho(relayPort: Int, target: String, _ tunnel: String) async throws -> RawTCPClient {
        let (client, head) = try await Self.open(relayPort: relayPort, target: target)
        do {
            guard head == Self.established else { throw HarnessError("\(tunnel) was answered \(head.debugDescription)") }
            client.discardReceived()
            let payload = "ping \(UUID().uuidString)"
            try await client.send(payload)
            let echoed = try await client.read(until: payload)
            guard echoed == payload else { throw HarnessError("\(tunnel) echoed \(echoed.debugDescription)") }
            return client
        } catch {
            await client.close()
            throw error
        }
    }

    /// A fresh tunnel to an echo at `target`, one round trip, closed: the relay still serves.
    /// `what` says when, for the error.
    public static func echoRoundTrip(relayPort: Int, target: String, _ what: String) async throws {
        try await Self.openEcho(relayPort: relayPort, target: target, "a fresh tunnel \(what)").close()
    }

    /// Sends `request` on a new connection and returns everything until the relay closes it.
    public static func exchange(relayPort: Int, _ request: String, timeout: Duration = .seconds(20)) async throws -> String {
        let client = try await RawTCPClient.connect(port: relayPort)
        do {
            try await client.send(request)
            let answer = try await client.readToEndAsString(timeout: timeout)
            await client.close()
            return answer
        } catch {
            await client.close()
            throw error
        }
    }
}
