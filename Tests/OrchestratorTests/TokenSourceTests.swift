import Foundation
import Orchestrator
import RelayProtocol
import TestSupport
import Testing

@Suite struct TokenSourceTests {
    func settings(_ arguments: [String]) throws -> Settings {
        try Settings.resolve(try Options.parse(arguments), environment: [:])
    }

    let fetcher = HTTPFetcher(caFile: nil, policy: HTTPFetcher.Policy(attempts: 2, firstBackoff: .milliseconds(10)))

    @Test func choiceIsEnvironmentThenURLThenFile() throws {
        let withURL = try settings(["--token-url", "http://127.0.0.1:9/t", "--token-file", "/x/token"])
        let withoutURL = try settings(["--token-file", "/x/token"])
        #expect(TokenSource.choose(settings: withURL, environment: ["RELAY_INIT_TOKEN": "abc"]) == .environment)
        #expect(TokenSource.choose(settings: withURL, environment: [:]) == .url(EndpointURL("http://127.0.0.1:9/t")!))
        #expect(TokenSource.choose(settings: withoutURL, environment: [:]) == .file("/x/token"))
        // Blank counts as unset: it falls through to the next source.
        #expect(TokenSource.choose(settings: withURL, environment: ["RELAY_INIT_TOKEN": " \n\t"]) == .url(EndpointURL("http://127.0.0.1:9/t")!))
        #expect(TokenSource.choose(settings: withoutURL, environment: ["RELAY_INIT_TOKEN": ""]) == .file("/x/token"))
        #expect(TokenSource.choose(settings: try settings([]), environment: [:]) == .file("/run/relay-init/session_token"))
    }

    @Test func fromTheEnvironmentTrimmed() throws {
        let token = try TokenSource.environment.read(environment: ["RELAY_INIT_TOKEN": "  tok en \n"], fetcher: self.fetcher, logger: quietLogger)
        #expect(token == "tok en")
    }

    @Test func fromAFileTrimmed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.file("token")
        try "file-token\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try TokenSource.file(file).read(environment: [:], fetcher: self.fetcher, logger: quietLogger) == "file-token")
        // Reading does not delete: that waits until the relay listens.
        #expect(FileManager.default.fileExists(atPath: file))
    }

    @Test func fromAURLTrimmed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await FakeHTTPServer.start(root: directory.path)
        defer { server.stop() }
        try server.serve("\r\nurl-token\r\n", at: "token")
        #expect(try TokenSource.url(server.url("/token")).read(environment: [:], fetcher: self.fetcher, logger: quietLogger) == "url-token")
    }

    @Test func aTokenURLAnswering4xxFailsAtOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await FakeHTTPServer.start(root: directory.path)
        defer { server.stop() }
        let error = #expect(throws: TokenError.self) {
            try TokenSource.url(server.url("/status/403")).read(environment: [:], fetcher: self.fetcher, logger: quietLogger)
        }
        #expect(await server.requestCount("/status/403", expected: 1) == 1)
        #expect(error?.description.contains("HTTP 403") == true)
    }

    @Test func emptyOrBlankIsAFailure() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = directory.file("token")
        try " \n\n".write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: TokenError.self) { try TokenSource.file(file).read(environment: [:], fetcher: self.fetcher, logger: quietLogger) }
        #expect(error?.description.contains("empty") == true)
    }

    @Test func missingFileSaysWhatToDo() throws {
        let error = #expect(throws: TokenError.self) {
            try TokenSource.file("/nonexistent/token").read(environment: [:], fetcher: self.fetcher, logger: quietLogger)
        }
        let message = error?.description ?? ""
        #expect(message.contains("/nonexistent/token") && message.contains("RELAY_INIT_TOKEN"), "\(message)")
    }

    @Test func controlCharactersAreRefusedWithoutShowingTheToken() throws {
        let error = #expect(throws: TokenError.self) {
            try TokenSource.environment.read(environment: ["RELAY_INIT_TOKEN": "abc\r\nX-Injected: 1"], fetcher: self.fetcher, logger: quietLogger)
        }
        #expect(error?.description.contains("abc") == false)
        #expect(error?.description.contains("Injected") == false)
    }
}
