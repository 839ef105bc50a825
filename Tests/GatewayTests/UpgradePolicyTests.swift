import Gateway
import RelayProtocol
import NIOHTTP1
import Testing

@Suite struct UpgradePolicyTests {
    let policy = WebSocketUpgradePolicy(tokens: try! TokenTable(["alpha": "token-a", "beta": "token-b"]))

    private func headers(_ fields: [(String, String)]) -> HTTPHeaders {
        HTTPHeaders(fields)
    }

    @Test func acceptsAValidTokenWithTheProtoContentType() {
        let decision = self.policy.decide(
            method: .GET,
            headers: self.headers([("Authorization", "Bearer token-b"), ("Content-Type", "application/proto")])
        )
        #expect(decision == .success(TunnelIdentity(session: "beta", token: "token-b")))
    }

    @Test func schemeAndMediaTypeAreCaseInsensitiveAndParametersIgnored() {
        let decision = self.policy.decide(
            method: .GET,
            headers: self.headers([("authorization", "bearer token-a"), ("content-type", "Application/Proto; charset=binary")])
        )
        #expect(decision == .success(TunnelIdentity(session: "alpha", token: "token-a")))
    }

    @Test(arguments: [
        [("Content-Type", "application/proto")],
        [("Authorization", "Bearer wrong"), ("Content-Type", "application/proto")],
        [("Authorization", "Basic dG9rZW4tYQ=="), ("Content-Type", "application/proto")],
        [("Authorization", "Bearer "), ("Content-Type", "application/proto")],
        [("Authorization", "Bearer token-a"), ("Authorization", "Bearer token-b"), ("Content-Type", "application/proto")],
    ])
    func refusesAMissingOrWrongTokenWith401(fields: [(String, String)]) {
        let decision = self.policy.decide(method: .GET, headers: self.headers(fields))
        #expect(decision == .failure(.invalidToken))
        #expect(UpgradeRefusal.invalidToken.status == .unauthorized)
    }

    @Test(arguments: [nil, "application/json", "application/protobuf", "text/plain"] as [String?])
    func refusesOtherContentTypesWith415(contentType: String?) {
        var fields = [("Authorization", "Bearer token-a")]
        if let contentType { fields.append(("Content-Type", contentType)) }
        let decision = self.policy.decide(method: .GET, headers: self.headers(fields))
        #expect(decision == .failure(.unsupportedContentType))
        #expect(UpgradeRefusal.unsupportedContentType.status == .unsupportedMediaType)
    }

    @Test func theTokenIsCheckedBeforeTheContentType() {
        let decision = self.policy.decide(method: .GET, headers: self.headers([("Authorization", "Bearer nope")]))
        #expect(decision == .failure(.invalidToken))
    }

    @Test func onlyGETUpgrades() {
        let decision = self.policy.decide(
            method: .POST,
            headers: self.headers([("Authorization", "Bearer token-a"), ("Content-Type", "application/proto")])
        )
        #expect(decision == .failure(.methodNotAllowed))
    }
}

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:8443", "127.0.0.1", 8443),
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("localhost:65535", "localhost", 65535),
        ("[::1]:0", "::1", 0),
        ("[::]:8443", "::", 8443),
    ])
    func parses(text: String, host: String, port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address == ListenAddress(host: host, port: port))
        #expect(address.description == text)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "[::1]", "[::1]80", "[]:80", "host:8o"])
    func rejects(text: String) {
        #expect(throws: ListenAddressError.self) { try ListenAddress(parsing: text) }
    }

    @Test func rejectsUnbracketedIPv6() {
        #expect(throws: ListenAddressError.unbracketedIPv6("::1:80")) { try ListenAddress(parsing: "::1:80") }
    }
}
