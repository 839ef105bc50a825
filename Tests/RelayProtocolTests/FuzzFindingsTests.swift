import NIOCore
import Testing

@testable import RelayProtocol

/// Inputs the libFuzzer targets of `Tests/Fuzz` showed to be mishandled, kept as unit tests once
/// fixed (their reproducers are also in `Tests/Fuzz/corpus/`).
@Suite struct FuzzFindingsTests {
    private func parse(_ text: String) throws(ConnectHeadError) -> ConnectHeadParser.Result {
        var parser = ConnectHeadParser()
        return try parser.feed(ByteBuffer(string: text))
    }

    /// `ConnectHeadFuzzer`, oracle `inet_pton`: bracketed targets that are not IPv6 addresses
    /// were taken. The fuzzer's reproducers were `[:::2]:443` and `[:0::1]:443` (dropping every
    /// empty group once a "::" was seen hid stray colons); the others are the same function's
    /// cases the oracle rejects too: an IPv4 tail that does not end the address, octets with a
    /// sign or a leading zero (`UInt8("+4")` is 4), and fullwidth digits (`Character.isHexDigit`
    /// takes "Ｆ").
    @Test(arguments: [
        "[:::2]:443", "[:0::1]:443", "[:1::2]:443", "[1::2:]:443", "[:::]:443",
        "[1.2.3.4::]:443", "[::ffff:1.2.3.+4]:443", "[::ffff:1.2.3.04]:443", "[::ffff:1.2.3.-0]:443",
        "[::\u{FF26}]:443", "[\u{FF11}::1]:443",
    ])
    func bracketedTargetsThatAreNotIPv6AddressesAre400(target: String) {
        #expect(ConnectTarget.parse(target) == nil)
        #expect(throws: ConnectHeadError.invalidTarget(target)) {
            try self.parse("CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\r\n")
        }
    }

    /// The fuzzer's first reproducer byte for byte, less its two selector bytes.
    @Test func firstReproducerIsRefused() {
        #expect(throws: ConnectHeadError.invalidTarget("[:::2]:443")) {
            try self.parse("CONNECT [:::2]:443 HTTP/1.1\r\nHost: [::1::2]:443\r\n\r\n")
        }
    }

    /// What the fix must keep: every form `inet_pton` takes.
    @Test(arguments: [
        ("[::]:443", "::"), ("[::1]:443", "::1"), ("[1::]:443", "1::"), ("[1:2:3:4:5:6:7::]:443", "1:2:3:4:5:6:7::"),
        ("[::2:3:4:5:6:7:8]:443", "::2:3:4:5:6:7:8"), ("[1:2:3:4:5:6:7:8]:443", "1:2:3:4:5:6:7:8"),
        ("[::1.2.3.4]:443", "::1.2.3.4"), ("[::ffff:0.10.200.255]:443", "::ffff:0.10.200.255"),
        ("[1:2:3:4:5:6:1.2.3.4]:443", "1:2:3:4:5:6:1.2.3.4"), ("[FE80::Ab%eth0]:443", "fe80::ab%eth0"),
    ])
    func ipv6AddressesAreStillTaken(target: String, host: String) {
        #expect(ConnectTarget.parse(target)?.host == host)
        #expect(ConnectTarget.parse(target)?.port == 443)
    }
}
