import Foundation
import Orchestrator
import RelayProtocol
import TestSupport
import Testing

@Suite struct HTTPFetcherTests {
    /// Fast retries, so the retry tests take milliseconds.
    let policy = HTTPFetcher.Policy(attempts: 3, firstBackoff: .milliseconds(10), connectTimeout: .seconds(2), attemptTimeout: .seconds(5))

    @Test func success() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await FakeHTTPServer.start(root: directory.path)
        defer { server.stop() }
        try server.serve("hello body\n", at: "file.txt")

        let body = try HTTPFetcher(caFile: nil, policy: self.policy).get(server.url("/file.txt"))
        #expect(String(decoding: body, as: UTF8.self) == "hello body\n")
    }

    @Test func notFoundIsNotRetried() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await FakeHTTPServer.start(root: directory.path)
        defer { server.stop() }

        let error = #expect(throws: HTTPFetchError.self) { try HTTPFetcher(caFile: nil, policy: self.policy).get(server.url("/status/404")) }
        #expect(error?.reason == .status(404))
        #expect(error?.attempts == 1)
        #expect(await server.requestCount("/status/404", expected: 1) == 1)
        #expect(error?.description.contains("\(server.baseURL)/status/404") == true)
        // The body of an error answer is never quoted (a token URL's body is the token).
        #expect(error?.description.contains("status body") == false)
    }

    @Test func serverErrorIsRetriedThenFailsNamingTheURL() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await FakeHTTPServer.start(root: directory.path)
        defer { server.stop() }

        let error = #expect(throws: HTTPFetchError.self) { try HTTPFetcher(caFile: nil, policy: self.policy).get(server.url("/status/503")) }
        #expect(error?.reason == .status(503))
        #expect(error?.attempts == 3)
        #expect(await server.requestCount("/status/503", expected: 3) == 3)
        #expect(error?.description == "GET \(server.baseURL)/status/503 failed after 3 attempts: HTTP 503")
    }

    @Test func connectionRefusedCarriesCurlsMessage() throws {
        let error = #expect(throws: HTTPFetchError.self) {
            try HTTPFetcher(caFile: nil, policy: self.policy).get(EndpointURL("http://127.0.0.1:1/ca")!)
        }
        #expect(error?.attempts == 3)
        guard case .transport(let code, let message)? = error?.reason else {
            Issue.record("expected a transport error, got \(String(describing: error))")
            return
        }
        #expect(code == 7)  // CURLE_COULDNT_CONNECT
        #expect(message.contains("127.0.0.1") && message.contains("port 1"), "\(message)")
        #expect(error?.description.contains("http://127.0.0.1:1/ca") == true)
    }

    @Test func timeout() async throws {
        let silent = try await SilentServer.start()
        let policy = HTTPFetcher.Policy(attempts: 2, firstBackoff: .milliseconds(10), connectTimeout: .seconds(2), attemptTimeout: .milliseconds(300))
        let started = ContinuousClock.now
        let error = #expect(throws: HTTPFetchError.self) {
            try HTTPFetcher(caFile: nil, policy: policy).get(EndpointURL("http://127.0.0.1:\(silent.port)/")!)
        }
        let elapsed = ContinuousClock.now - started
        await silent.shutdown()
        guard case .transport(let code, let message)? = error?.reason else {
            Issue.record("expected a transport error, got \(String(describing: error))")
            return
        }
        #expect(code == 28, "\(message)")  // CURLE_OPERATION_TIMEDOUT
        #expect(error?.attempts == 2)
        #expect(elapsed < TestTime.scaled(.seconds(5)))
    }

    @Test func bodyLargerThanTheCapIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await FakeHTTPServer.start(root: directory.path)
        defer { server.stop() }
        let fetcher = HTTPFetcher(caFile: nil, policy: self.policy)

        #expect(try fetcher.get(server.url("/big/1048576")).count == 1 << 20)
        let error = #expect(throws: HTTPFetchError.self) { try fetcher.get(server.url("/big/1048577")) }
        #expect(error?.reason == .bodyTooLarge(limit: 1 << 20))
        #expect(error?.attempts == 1)
    }

    // Inherited proxy variables are ignored: see WrapModeTests.setupSucceeds, which runs the binary with them set.

    @Test func httpsIsVerifiedAgainstTheGivenBundle() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ca = TestCA()
        let caFile = directory.file("ca.pem")
        try ca.writeCertificate(to: caFile)
        try FileManager.default.createDirectory(atPath: directory.file("static"), withIntermediateDirectories: true)
        try "over tls".write(toFile: directory.file("static/hello.txt"), atomically: true, encoding: .utf8)
        let target = try await HTTPSTarget.start(tls: try ca.issue(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]), staticRoot: directory.file("static"))
        let url = EndpointURL(target.url("/static/hello.txt"))!

        #expect(try HTTPFetcher(caFile: caFile, policy: self.policy).get(url) == Array("over tls".utf8))

        // Against a bundle without the CA: a verification failure, not retried.
        let other = directory.file("other.pem")
        try PEMFixtures.caA.write(toFile: other, atomically: true, encoding: .utf8)
        let error = #expect(throws: HTTPFetchError.self) { try HTTPFetcher(caFile: other, policy: self.policy).get(url) }
        #expect(error?.attempts == 1)
        if case .transport(let code, _)? = error?.reason {
            #expect(code == 60)  // CURLE_PEER_FAILED_VERIFICATION
        } else {
            Issue.record("expected a transport error, got \(String(describing: error))")
        }
        await target.shutdown()
    }
}
