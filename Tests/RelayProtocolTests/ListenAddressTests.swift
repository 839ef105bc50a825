import Testing

@testable import RelayProtocol

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:0", true), ("127.1.2.3:3128", true), ("localhost:80", true), ("LOCALHOST:80", true),
        ("[::1]:0", true), ("[0:0:0:0:0:0:0:1]:0", true), ("[0::1]:0", true), ("[::0001]:0", true), ("[::ffff:127.0.0.1]:0", true),
        ("0.0.0.0:3128", false), ("[::]:3128", false), ("10.0.0.5:3128", false), ("128.0.0.1:1", false),
        ("[::2]:0", false), ("[1::1]:0", false), ("[::ffff:10.0.0.1]:0", false), ("[:::1]:0", false),
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
}
