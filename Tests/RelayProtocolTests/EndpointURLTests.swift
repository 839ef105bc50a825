import Testing

@testable import RelayProtocol

@Suite struct EndpointURLTests {
    typealias Scheme = EndpointURL.Scheme

    /// One row per parsed URL: what each property reads.
    struct Case: Sendable, CustomTestStringConvertible {
        var text: String
        var schemes: Set<Scheme> = [.http, .https]
        var scheme: Scheme
        var userInfo: String? = nil
        var host: String
        var port: Int? = nil
        var path = ""
        var query: String? = nil
        var effectivePort: Int
        var hostHeader: String
        var pathAndQuery: String
        var string: String
        var description: String
        var testDescription: String { self.text }
    }

    static let cases: [Case] = [
        Case(
            text: "https://gw.example", scheme: .https, host: "gw.example", effectivePort: 443,
            hostHeader: "gw.example", pathAndQuery: "/", string: "https://gw.example", description: "https://gw.example"
        ),
        Case(
            text: "HTTPS://User:Pw@GW.Example:8443/p/A?x=1#frag", scheme: .https, userInfo: "User:Pw", host: "gw.example",
            port: 8443, path: "/p/A", query: "x=1", effectivePort: 8443, hostHeader: "gw.example:8443",
            pathAndQuery: "/p/A?x=1", string: "https://User:Pw@gw.example:8443/p/A?x=1",
            description: "https://***@gw.example:8443/p/A?x=1"
        ),
        Case(
            text: "http://127.0.0.1:80?q", scheme: .http, host: "127.0.0.1", port: 80, query: "q", effectivePort: 80,
            hostHeader: "127.0.0.1", pathAndQuery: "/?q", string: "http://127.0.0.1:80?q", description: "http://127.0.0.1:80?q"
        ),
        Case(
            text: "ws://[::1]/ws", schemes: [.ws, .wss], scheme: .ws, host: "::1", path: "/ws", effectivePort: 80,
            hostHeader: "[::1]", pathAndQuery: "/ws", string: "ws://[::1]/ws", description: "ws://[::1]/ws"
        ),
        Case(
            text: "wss://[2001:db8::1]:443/", schemes: [.ws, .wss], scheme: .wss, host: "2001:db8::1", port: 443, path: "/",
            effectivePort: 443, hostHeader: "[2001:db8::1]", pathAndQuery: "/",
            string: "wss://[2001:db8::1]:443/", description: "wss://[2001:db8::1]:443/"
        ),
        Case(
            text: "wss://gw.example:8443/v1/ws?x=1", schemes: [.wss], scheme: .wss, host: "gw.example", port: 8443,
            path: "/v1/ws", query: "x=1", effectivePort: 8443, hostHeader: "gw.example:8443", pathAndQuery: "/v1/ws?x=1",
            string: "wss://gw.example:8443/v1/ws?x=1", description: "wss://gw.example:8443/v1/ws?x=1"
        ),
    ]

    @Test(arguments: Self.cases)
    func parsing(expected: Case) throws {
        let url = try EndpointURL(parsing: expected.text, schemes: expected.schemes)
        #expect(url.scheme == expected.scheme)
        #expect(url.userInfo == expected.userInfo)
        #expect(url.host == expected.host)
        #expect(url.port == expected.port)
        #expect(url.path == expected.path)
        #expect(url.query == expected.query)
        #expect(url.effectivePort == expected.effectivePort)
        #expect(url.hostHeader == expected.hostHeader)
        #expect(url.pathAndQuery == expected.pathAndQuery)
        #expect(url.string == expected.string)
        #expect(url.description == expected.description)
        // The string given to libcurl parses back to the same URL.
        #expect(EndpointURL(url.string, schemes: expected.schemes) == url)
    }

    /// Every error.
    @Test(arguments: [
        ("https://gw example", [.http, .https], .whitespaceOrControlCharacter),
        ("https://gw.example/\t", [.http, .https], .whitespaceOrControlCharacter),
        ("https://gw.example/\u{7F}", [.http, .https], .whitespaceOrControlCharacter),
        ("gw.example", [.http, .https], .missingScheme),
        ("https:/gw.example", [.http, .https], .missingScheme),
        ("ftp://gw.example", [.http, .https], .unsupportedScheme("ftp")),
        ("WSS://gw.example", [.http, .https], .unsupportedScheme("wss")),
        ("https://gw.example", [.ws, .wss], .unsupportedScheme("https")),
        ("://gw.example", [.http, .https], .unsupportedScheme("")),
        ("https://", [.http, .https], .invalidAuthority(.emptyHost)),
        ("https://user@/x", [.http, .https], .invalidAuthority(.emptyHost)),
        ("https://::1/", [.http, .https], .invalidAuthority(.unbracketedIPv6)),
        ("https://[::1/x", [.http, .https], .invalidAuthority(.unclosedBracket)),
        ("https://[::1]x/", [.http, .https], .invalidAuthority(.textAfterBracket)),
        ("https://[10.0.0.1]/", [.http, .https], .invalidAuthority(.notIPv6("10.0.0.1"))),
        ("https://g\u{FC}.example/", [.http, .https], .invalidAuthority(.invalidHostCharacter("\u{FC}"))),
        ("https://gw.example:/", [.http, .https], .invalidAuthority(.invalidPort(""))),
        ("https://gw.example:0", [.http, .https], .invalidAuthority(.portOutOfRange(0, 1...65535))),
        ("ws://gw.example:65536/ws", [.ws, .wss], .invalidAuthority(.portOutOfRange(65536, 1...65535))),
    ] as [(String, Set<Scheme>, EndpointURLError)])
    func errors(text: String, schemes: Set<Scheme>, expected: EndpointURLError) {
        #expect(throws: expected) { try EndpointURL(parsing: text, schemes: schemes) }
        #expect(EndpointURL(text, schemes: schemes) == nil)
    }

    @Test func errorMessages() {
        #expect(EndpointURLError.whitespaceOrControlCharacter.description == "a URL holds no blanks or control characters")
        #expect(EndpointURLError.missingScheme.description == "no scheme: write SCHEME://HOST")
        #expect(EndpointURLError.unsupportedScheme("ftp").description == "the scheme \"ftp\" is not one this option takes")
        #expect(EndpointURLError.invalidAuthority(.missingPort).description == "no port: write HOST:PORT")
    }

    @Test func schemes() {
        #expect(Scheme.allCases.map(\.defaultPort) == [80, 443, 80, 443])
        #expect(Scheme.allCases.map(\.isSecure) == [false, true, false, true])
        #expect(Scheme.allCases.map(\.isWebSocket) == [false, false, true, true])
        #expect(Scheme.allCases.map(\.webSocketEquivalent) == [.ws, .wss, .ws, .wss])
        #expect(EndpointURL("http://a.test") != nil && EndpointURL("ws://a.test") == nil)
    }

    @Test(arguments: [
        ("https://gw.example", "https://gw.example/v1/x"),
        ("https://gw.example/", "https://gw.example/v1/x"),
        ("https://gw.example/prefix", "https://gw.example/prefix/v1/x"),
        ("https://gw.example/prefix//?q=1", "https://gw.example/prefix/v1/x"),
    ])
    func appendingPathJoinsWithOneSlashAndDropsTheQuery(base: String, joined: String) throws {
        let url = try #require(EndpointURL(base))
        #expect(url.appendingPath("/v1/x").string == joined)
        #expect(url.appendingPath("v1/x").string == joined)
    }

    @Test func webSocketEquivalentKeepsThePlaceAndDropsCredentials() throws {
        let https = try #require(EndpointURL("https://u:p@GW.example:8443/prefix?q"))
        #expect(https.webSocketEquivalent.string == "wss://gw.example:8443/prefix?q")
        #expect(try #require(EndpointURL("http://[::1]/a")).webSocketEquivalent.string == "ws://[::1]/a")
    }
}
