import NIOCore
import Testing

@testable import RelayProtocol

@Suite struct ConnectHeadParserTests {
    private func parse(_ text: String) throws(ConnectHeadError) -> ConnectHeadParser.Result {
        var parser = ConnectHeadParser()
        return try parser.feed(ByteBuffer(string: text))
    }

    private func request(_ text: String) throws -> ConnectRequest {
        guard case .complete(let request) = try self.parse(text) else {
            Issue.record("head not complete")
            throw ConnectHeadError.malformed("incomplete")
        }
        return request
    }

    @Test func parsesAConnectHead() throws {
        let request = try self.request("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent:  curl/8 \r\n\r\n")
        #expect(request.requestLine == "CONNECT example.com:443 HTTP/1.1")
        #expect(request.method == "CONNECT")
        #expect(request.host == "example.com")
        #expect(request.port == 443)
        #expect(request.version == "HTTP/1.1")
        #expect(request.header("user-agent") == "curl/8")
        #expect(request.header("host") == "example.com:443")
        #expect(request.leftover.readableBytes == 0)
    }

    @Test func keepsLeftoverBytesAfterTheHead() throws {
        let request = try self.request("CONNECT a.test:1 HTTP/1.0\r\n\r\n\u{16}\u{03}\u{01}hello")
        #expect(request.version == "HTTP/1.0")
        #expect(String(buffer: request.leftover) == "\u{16}\u{03}\u{01}hello")
    }

    @Test func methodIsCaseInsensitiveAndKeptAsWritten() throws {
        let request = try self.request("connect a.test:80 HTTP/1.1\r\n\r\n")
        #expect(request.method == "connect")
        #expect(request.requestLine == "connect a.test:80 HTTP/1.1")
    }

    @Test func ipv6AndIPv4Targets() throws {
        let v6 = try self.request("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n")
        #expect(v6.host == "2001:db8::1")
        #expect(v6.port == 8443)
        #expect(v6.authority == "[2001:db8::1]:8443")
        #expect(try self.request("CONNECT [::1]:443 HTTP/1.1\r\n\r\n").host == "::1")
        #expect(try self.request("CONNECT [::ffff:10.0.0.1]:443 HTTP/1.1\r\n\r\n").host == "::ffff:10.0.0.1")
        #expect(try self.request("CONNECT 10.1.2.3:65535 HTTP/1.1\r\n\r\n").port == 65535)
    }

    @Test func everySplitOfTheInputGivesTheSameRequestAndBytes() throws {
        let text = "CONNECT host.test:443 HTTP/1.1\r\nProxy-Authorization: Basic YTpi\r\n\r\nEARLY"
        let bytes = Array(text.utf8)
        for split in 1..<bytes.count {
            var parser = ConnectHeadParser()
            var request: ConnectRequest
            var rest = ByteBuffer(bytes: bytes[split...])
            switch try parser.feed(ByteBuffer(bytes: bytes[..<split])) {
            case .complete(let early):
                // The whole head was in the first part: the second part is simply more tunnel bytes.
                request = early
                request.leftover.writeBuffer(&rest)
            case .needMoreData:
                guard case .complete(let late) = try parser.feed(rest) else {
                    Issue.record("split at \(split): head not complete")
                    continue
                }
                request = late
            }
            #expect(request.requestLine == "CONNECT host.test:443 HTTP/1.1", "split at \(split)")
            #expect(request.header("Proxy-Authorization") == "Basic YTpi", "split at \(split)")
            #expect(String(buffer: request.leftover) == "EARLY", "split at \(split)")
        }
    }

    @Test func oneByteAtATime() throws {
        let text = "CONNECT host.test:443 HTTP/1.1\r\nHost: host.test\r\n\r\n"
        var parser = ConnectHeadParser()
        var result = ConnectHeadParser.Result.needMoreData
        for byte in text.utf8 {
            #expect(result == .needMoreData)
            result = try parser.feed(ByteBuffer(bytes: [byte]))
        }
        guard case .complete(let request) = result else {
            Issue.record("not complete")
            return
        }
        #expect(request.host == "host.test")
    }

    @Test func headOfExactly8192BytesIsAccepted() throws {
        let prefix = "CONNECT a.test:443 HTTP/1.1\r\nX-Pad: "
        let padding = String(repeating: "p", count: 8192 - prefix.utf8.count - 4)
        let text = prefix + padding + "\r\n\r\n"
        #expect(text.utf8.count == 8192)
        #expect(try self.request(text).header("x-pad") == padding)
    }

    @Test func headTooLargeIs431AsSoonAs8192BytesArrive() throws {
        var parser = ConnectHeadParser()
        let start = "CONNECT a.test:443 HTTP/1.1\r\nX-Pad: "
        #expect(try parser.feed(ByteBuffer(string: start)) == .needMoreData)
        #expect(try parser.feed(ByteBuffer(string: String(repeating: "p", count: 8190 - start.utf8.count))) == .needMoreData)
        #expect(throws: ConnectHeadError.headTooLarge) {
            try parser.feed(ByteBuffer(string: "pp"))
        }
        #expect(ConnectHeadError.headTooLarge.statusCode == 431)
        // A terminator that arrives only after byte 8,192 does not rescue the head.
        #expect(throws: ConnectHeadError.headTooLarge) {
            try self.parse("CONNECT a.test:443 HTTP/1.1\r\nX: " + String(repeating: "p", count: 8200) + "\r\n\r\n")
        }
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\n\r\n",
        "get http://a.test/ HTTP/1.1\r\n\r\n",
        "POST a.test:443 HTTP/1.1\r\n\r\n",
    ])
    func otherMethodsAre405WithAllow(text: String) {
        #expect {
            try self.parse(text)
        } throws: { error in
            guard let error = error as? ConnectHeadError, case .methodNotAllowed = error else { return false }
            return error.statusCode == 405 && error.response.contains("Allow: CONNECT\r\n")
        }
    }

    @Test(arguments: [
        "CONNECT a.test:443 HTTP/2.0\r\n\r\n",
        "CONNECT a.test:443 SPDY/1.1\r\n\r\n",
        "CONNECT a.test:443\r\n\r\n",
        "CONNECT  a.test:443 HTTP/1.1\r\n\r\n",
        "CONNECT a.test:443 HTTP/1.1 extra\r\n\r\n",
        "\u{16}\u{03}\u{01}\u{02}\u{00}\r\n\r\n",
        "CONNECT a.test:443 HTTP/1.1\r\nno colon here\r\n\r\n",
        "CONNECT a.test:443 HTTP/1.1\r\n: empty name\r\n\r\n",
        "CONNECT a.test:443 HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "C(NNECT a.test:443 HTTP/1.1\r\n\r\n",
    ])
    func unparsableHeadsAre400(text: String) {
        #expect {
            try self.parse(text)
        } throws: { error in
            guard let error = error as? ConnectHeadError, case .malformed = error else { return false }
            return error.statusCode == 400
        }
    }

    @Test(arguments: [
        "a.test", "a.test:", "a.test:0", "a.test:65536", "a.test:99999999", "a.test:-1", "a.test:+443",
        ":443", "[::1]", "[::1]443", "::1:443", "[not-v6]:443", "[1::2::3]:443", "[12345::]:443",
        "[1:2:3:4:5:6:7:8:9]:443", "user@a.test:443", "a.test/x:443", "[::1:443",
    ])
    func invalidTargetsAre400(target: String) {
        #expect(throws: ConnectHeadError.invalidTarget(target)) {
            try self.parse("CONNECT \(target) HTTP/1.1\r\n\r\n")
        }
    }

    @Test func errorResponsesCloseTheConnection() {
        for error in [ConnectHeadError.headTooLarge, .malformed("x"), .methodNotAllowed("GET"), .invalidTarget("x")] {
            #expect(error.response.hasPrefix("HTTP/1.1 \(error.statusCode) \(error.reasonPhrase)\r\n"))
            #expect(error.response.contains("Connection: close\r\n"))
            #expect(error.response.hasSuffix("\r\n\r\n"))
        }
        #expect(ConnectHeadError.headTooLarge.response.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(ConnectHeadError.malformed("x").response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(ConnectHeadError.methodNotAllowed("GET").response.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
    }
}
