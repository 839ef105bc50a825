import Gateway
import Testing

@Suite struct HostPatternTests {
    @Test func exactHostAndPort() throws {
        let pattern = try HostPattern("example.com:443")
        #expect(pattern.matches(host: "example.com", port: 443))
        #expect(pattern.matches(host: "EXAMPLE.com", port: 443))
        #expect(pattern.matches(host: "example.com.", port: 443))
        #expect(!pattern.matches(host: "example.com", port: 80))
        #expect(!pattern.matches(host: "www.example.com", port: 443))
        #expect(!pattern.matches(host: "example.org", port: 443))
    }

    @Test func anyPort() throws {
        let pattern = try HostPattern("example.com:*")
        #expect(pattern.matches(host: "example.com", port: 1))
        #expect(pattern.matches(host: "example.com", port: 65535))
    }

    @Test func anyHost() throws {
        let pattern = try HostPattern("*:25")
        #expect(pattern.matches(host: "mail.example.com", port: 25))
        #expect(pattern.matches(host: "10.0.0.1", port: 25))
        #expect(pattern.matches(host: "::1", port: 25))
        #expect(!pattern.matches(host: "mail.example.com", port: 587))
        #expect(try HostPattern("*:*").matches(host: "anything", port: 9))
    }

    @Test func leadingWildcardMatchesAnySubdomainButNotTheApex() throws {
        let pattern = try HostPattern("*.example.com:443")
        #expect(pattern.matches(host: "a.example.com", port: 443))
        #expect(pattern.matches(host: "a.b.example.com", port: 443))
        #expect(!pattern.matches(host: "example.com", port: 443))
        #expect(!pattern.matches(host: "a.example.org", port: 443))
        #expect(!pattern.matches(host: "badexample.com", port: 443))
    }

    @Test func innerWildcardMatchesExactlyOneLabel() throws {
        let pattern = try HostPattern("api.*.example.com:443")
        #expect(pattern.matches(host: "api.eu.example.com", port: 443))
        #expect(!pattern.matches(host: "api.eu.west.example.com", port: 443))
        #expect(!pattern.matches(host: "api.example.com", port: 443))
    }

    @Test func ipAddresses() throws {
        #expect(try HostPattern("127.0.0.1:80").matches(host: "127.0.0.1", port: 80))
        #expect(!(try HostPattern("127.0.0.1:80").matches(host: "127.0.0.2", port: 80)))
        let v6 = try HostPattern("[::1]:443")
        #expect(v6.matches(host: "::1", port: 443))
        #expect(v6.matches(host: "0:0:0:0:0:0:0:1", port: 443))
        #expect(!v6.matches(host: "::2", port: 443))
        #expect(!v6.matches(host: "localhost", port: 443))
        let anyPortV6 = try HostPattern("[0:0::1]:*")
        #expect(anyPortV6.matches(host: "::1", port: 1) && anyPortV6.matches(host: "::1", port: 65535))
        #expect(try HostPattern("[2001:DB8::1]:443").matches(host: "2001:db8::1", port: 443))
        #expect(try HostPattern("EXAMPLE.Com:443").matches(host: "example.com", port: 443))
    }

    @Test(arguments: [
        ("example.com", HostPatternError.missingPort("example.com")),
        ("example.com:0", .invalidPort("example.com:0")),
        ("example.com:70000", .invalidPort("example.com:70000")),
        ("example.com:http", .invalidPort("example.com:http")),
        (":443", .invalidHost(":443")),
        ("a..b:443", .invalidHost("a..b:443")),
        ("ex*ample.com:443", .invalidHost("ex*ample.com:443")),
        ("[nonsense]:443", .invalidHost("[nonsense]:443")),
        ("::1:443", .invalidHost("::1:443")),
        ("[::1]", .missingPort("[::1]")),
        ("example.com:", .invalidPort("example.com:")),
        ("example.com:+443", .invalidPort("example.com:+443")),
        ("example.com:080443", .invalidPort("example.com:080443")),
        ("a:80:*", .invalidHost("a:80:*")),
        ("exa mple.com:443", .invalidHost("exa mple.com:443")),
        ("user@example.com:443", .invalidHost("user@example.com:443")),
        ("[::1]443:*", .invalidHost("[::1]443:*")),
        ("[::1:443", .invalidHost("[::1:443")),
        ("[fe80::1%eth0]:443", .invalidHost("[fe80::1%eth0]:443")),
        ("[10.0.0.1]:443", .invalidHost("[10.0.0.1]:443")),
    ])
    func invalidPatterns(text: String, expected: HostPatternError) {
        #expect(throws: expected) { try HostPattern(text) }
    }

    @Test func policyDenyWinsAndEmptyAllowAllowsAll() throws {
        let open = AccessPolicy()
        #expect(open.permits(host: "anything.example", port: 1234))

        let policy = AccessPolicy(
            allow: [try HostPattern("*.example.com:*"), try HostPattern("registry.npmjs.org:443")],
            deny: [try HostPattern("secret.example.com:*"), try HostPattern("*:25")]
        )
        #expect(policy.permits(host: "www.example.com", port: 443))
        #expect(policy.permits(host: "registry.npmjs.org", port: 443))
        #expect(!policy.permits(host: "registry.npmjs.org", port: 80))
        #expect(!policy.permits(host: "secret.example.com", port: 443))
        #expect(!policy.permits(host: "mail.example.com", port: 25))
        #expect(!policy.permits(host: "github.com", port: 443))

        let denyOnly = AccessPolicy(deny: [try HostPattern("*:22")])
        #expect(denyOnly.permits(host: "github.com", port: 443))
        #expect(!denyOnly.permits(host: "github.com", port: 22))
    }
}
