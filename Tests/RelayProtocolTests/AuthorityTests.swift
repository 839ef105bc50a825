import Testing

@testable import RelayProtocol

@Suite struct AuthorityTests {
    /// (text, port required, port range, host, port)
    @Test(arguments: [
        ("a.test:443", true, 1...65535, "a.test", 443),
        ("A.Test:443", true, 1...65535, "a.test", 443),
        ("127.0.0.1:65535", true, 1...65535, "127.0.0.1", 65535),
        ("a.test:00443", true, 1...65535, "a.test", 443),
        ("a.test:0", true, 0...65535, "a.test", 0),
        ("*.example.com:1", true, 1...65535, "*.example.com", 1),
        ("x_y-z~!$&'()*+,;=%41:1", true, 1...65535, "x_y-z~!$&'()*+,;=%41", 1),
        ("[::1]:443", true, 1...65535, "::1", 443),
        ("[2001:DB8::1]:8443", true, 1...65535, "2001:db8::1", 8443),
        ("[::ffff:10.0.0.1]:1", true, 1...65535, "::ffff:10.0.0.1", 1),
        ("[FE80::Ab%Eth0]:1", true, 1...65535, "fe80::ab%Eth0", 1),
    ] as [(String, Bool, ClosedRange<Int>, String, Int)])
    func withPort(text: String, portRequired: Bool, portRange: ClosedRange<Int>, host: String, port: Int) throws {
        let authority = try Authority(parsing: text, portRequired: portRequired, portRange: portRange)
        #expect(authority == Authority(host: host, port: port))
        // What it prints parses back to the same value.
        #expect(try Authority(parsing: authority.description, portRequired: true, portRange: portRange) == authority)
    }

    /// (text, host, description)
    @Test(arguments: [
        ("a.test", "a.test", "a.test"), ("GW.example", "gw.example", "gw.example"),
        ("[::1]", "::1", "[::1]"), ("[1::A%Lo]", "1::a%Lo", "[1::a%Lo]"),
    ])
    func optionalPortMayBeLeftOut(text: String, host: String, description: String) throws {
        let authority = try Authority(parsing: text, portRequired: false)
        #expect(authority == Authority(host: host, port: nil))
        #expect(authority.description == description)
    }

    /// Every error, each with the smallest text that causes it.
    @Test(arguments: [
        ("", false, 1...65535, AuthorityError.emptyHost),
        (":443", true, 1...65535, .emptyHost),
        ("[]:443", true, 1...65535, .emptyHost),
        ("[::1:443", true, 1...65535, .unclosedBracket),
        ("[::1]443", true, 1...65535, .textAfterBracket),
        ("[::1]/", false, 1...65535, .textAfterBracket),
        ("[127.0.0.1]:80", true, 1...65535, .notIPv6("127.0.0.1")),
        ("[not-v6]:443", true, 1...65535, .notIPv6("not-v6")),
        ("[1::2::3]:443", true, 1...65535, .notIPv6("1::2::3")),
        ("[12345::]:443", true, 1...65535, .notIPv6("12345::")),
        ("[1:2:3:4:5:6:7:8:9]:443", true, 1...65535, .notIPv6("1:2:3:4:5:6:7:8:9")),
        ("[::1%]:443", true, 1...65535, .notIPv6("::1%")),
        ("::1:80", true, 1...65535, .unbracketedIPv6),
        ("::1", false, 1...65535, .unbracketedIPv6),
        ("a:b:443", true, 1...65535, .unbracketedIPv6),
        ("a test:1", true, 1...65535, .invalidHostCharacter(" ")),
        ("user@a.test:443", true, 1...65535, .invalidHostCharacter("@")),
        ("a.test/x:443", true, 1...65535, .invalidHostCharacter("/")),
        ("b\u{FC}cher.example:443", true, 1...65535, .invalidHostCharacter("\u{FC}")),
        ("a.test", true, 1...65535, .missingPort),
        ("[::1]", true, 1...65535, .missingPort),
        ("a.test:", true, 1...65535, .invalidPort("")),
        ("a.test:http", true, 1...65535, .invalidPort("http")),
        ("a.test:+443", true, 1...65535, .invalidPort("+443")),
        ("a.test:-1", true, 1...65535, .invalidPort("-1")),
        ("a.test:123456", true, 1...65535, .invalidPort("123456")),
        ("a.test:\u{FF11}", true, 1...65535, .invalidPort("\u{FF11}")),
        ("[::1]:x", true, 1...65535, .invalidPort("x")),
        ("a.test:0", true, 1...65535, .portOutOfRange(0, 1...65535)),
        ("a.test:65536", true, 0...65535, .portOutOfRange(65536, 0...65535)),
        ("a.test:99999", false, 1...65535, .portOutOfRange(99999, 1...65535)),
    ] as [(String, Bool, ClosedRange<Int>, AuthorityError)])
    func errors(text: String, portRequired: Bool, portRange: ClosedRange<Int>, expected: AuthorityError) {
        #expect(throws: expected) { try Authority(parsing: text, portRequired: portRequired, portRange: portRange) }
    }

    @Test(arguments: [
        (AuthorityError.emptyHost, "no host"),
        (.unclosedBracket, "\"[\" without a closing \"]\""),
        (.textAfterBracket, "only :PORT may follow an IPv6 address in brackets"),
        (.notIPv6("1::2::3"), "\"1::2::3\" in brackets is not an IPv6 address"),
        (.unbracketedIPv6, "more than one \":\": write IPv6 addresses in brackets, e.g. [::1]:8443"),
        (.invalidHostCharacter("/"), "the host holds \"/\", which no host name or address does"),
        (.missingPort, "no port: write HOST:PORT"),
        (.invalidPort("http"), "the port \"http\" is not a number"),
        (.portOutOfRange(0, 1...65535), "the port 0 is outside 1-65535"),
    ])
    func errorMessages(error: AuthorityError, message: String) {
        #expect(error.description == message)
    }

    @Test func formatting() {
        #expect(Authority(host: "a.test", port: 443).description == "a.test:443")
        #expect(Authority(host: "::1", port: 443).description == "[::1]:443")
        #expect(Authority(host: "::1", port: nil).description == "[::1]")
        #expect(Authority(host: "::1", port: nil).bracketedHost == "[::1]")
        #expect(Authority(host: "::1", port: nil).isIPv6)
        #expect(!Authority(host: "10.0.0.1", port: nil).isIPv6)
        #expect(ConnectTarget.format(host: "2001:db8::1", port: 8443) == "[2001:db8::1]:8443")
    }
}
