import Testing

@testable import RelayProtocol

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:0", true), ("127.1.2.3:3128", true), ("localhost:80", true), ("LOCALHOST:80", true),
        ("[::1]:0", true), ("[0:0:0:0:0:0:0:1]:0", true), ("[0::1]:0", true), ("[::0001]:0", true), ("[::ffff:127.0.0.1]:0", true),
        ("0.0.0.0:3128", false), ("[::]:3128", false), ("10.0.0.5:3128", false), ("128.0.0.1:1", false),
        ("[::2]:0", false), ("[1::1]:0", false), ("[::ffff:10.0.0.1]:0", false),
        ("127.0.0.256:1", false), ("127.0.0:1", false), ("example.com:80", false), ("[fe80::1]:0", false),
    ])
    func loopbackAddresses(text: String, isLoopback: Bool) throws {
        #expect(try ListenAddress(parsing: text).isLoopback == isLoopback, "\(text)")
    }

    @Test(arguments: [("127.0.0.1:0", "127.0.0.1", 0), ("[::1]:8443", "::1", 8443), ("0.0.0.0:65535", "0.0.0.0", 65535)])
    func parsing(text: String, host: String, port: Int) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host && address.port == port)
        #expect(address.description == text)
    }

    @Test func hostIsLowercasedAndPortCanBeReplaced() throws {
        let address = try ListenAddress(parsing: "LocalHost:0")
        #expect(address == ListenAddress(host: "localhost", port: 0))
        #expect(address.with(port: 3128).description == "localhost:3128")
        #expect(ListenAddress(host: "::1", port: 0).with(port: 8443).description == "[::1]:8443")
    }

    /// Every refusal, with the text the user sees (the messages SPEC §2's usage errors quote).
    @Test(arguments: [
        ("::1:80", ListenAddressError.unbracketedIPv6("::1:80")),
        ("0.0.0.0", .invalid("0.0.0.0")), ("[::1]", .invalid("[::1]")), (":8080", .invalid(":8080")),
        ("127.0.0.1:65536", .invalid("127.0.0.1:65536")), ("127.0.0.1:x", .invalid("127.0.0.1:x")),
        ("[127.0.0.1]:80", .invalid("[127.0.0.1]:80")), ("[::1:80", .invalid("[::1:80")),
        (" 127.0.0.1:80", .invalid(" 127.0.0.1:80")), ("", .invalid("")), ("[:::1]:0", .invalid("[:::1]:0")),
    ])
    func refused(text: String, expected: ListenAddressError) {
        #expect(throws: expected) { try ListenAddress(parsing: text) }
    }

    @Test func errorMessages() {
        #expect(
            ListenAddressError.invalid("x").description
                == "invalid listen address \"x\": expected ADDR:PORT (port 0-65535, IPv6 as [ADDR]:PORT)"
        )
        #expect(
            ListenAddressError.unbracketedIPv6("::1:80").description
                == "invalid listen address \"::1:80\": write IPv6 addresses in brackets, e.g. [::1]:8443"
        )
    }
}
