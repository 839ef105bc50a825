import Foundation
import Testing
import TestSupport

/// relay ⇄ gateway ⇄ target with the real curl, the way tools in the container use it.
@Suite(.serialized) struct CurlThroughTunnelTests {
    @Test func curlReachesTheHTTPSTargetTrustingTheTestCA() async throws {
        let bed = try await Testbed.start()
        let result = try await bed.curl(["--cacert", bed.caPath, bed.targetURL("/hello")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "hello from target\n")
        await bed.shutdown()
    }

    @Test func withoutTheCACurlRefusesTheTarget() async throws {
        let bed = try await Testbed.start()
        // Trust comes from the test CA alone: the system bundle does not know it.
        let result = try await bed.curl(["--cacert", "/etc/ssl/certs/ca-certificates.crt", bed.targetURL("/hello")])
        #expect(result.status == 60, "curl: \(result.stderr)")
        await bed.shutdown()
    }

    @Test func download64MiBArrivesIntact() async throws {
        let bed = try await Testbed.start()
        let size = 64 << 20
        let output = bed.directory.file("download")
        let result = try await bed.curl(["--cacert", bed.caPath, "-o", output, bed.targetURL("/bytes/\(size)")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try await sha256(file: output) == HTTPSTarget.expectedSHA256(count: size))
        await bed.shutdown()
    }

    @Test func upload64MiBArrivesIntact() async throws {
        let bed = try await Testbed.start()
        let input = bed.directory.file("upload")
        let make = try await TestProcess.run("sh", ["-c", "head -c \(64 << 20) /dev/urandom > '\(input)'"])
        #expect(make.status == 0)
        let result = try await bed.curl(["--cacert", bed.caPath, "--data-binary", "@\(input)", bed.targetURL("/sha256")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "\(try await sha256(file: input)) \(64 << 20)\n")
        await bed.shutdown()
    }

    @Test func gatewayForbiddenReachesTheClientVerbatim() async throws {
        let bed = try await Testbed.start(deny: ["target.test:*"])
        let client = try await RawTCPClient.connect(port: bed.relay.port)
        try await client.send("CONNECT target.test:\(bed.target.port) HTTP/1.1\r\n\r\n")
        let response = try await client.readToEndAsString()
        #expect(response.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        let curl = try await bed.curl(["--cacert", bed.caPath, bed.targetURL("/hello")])
        #expect(curl.status == 56, "curl: \(curl.stderr)")
        #expect(curl.stderr.contains("403"))
        await bed.shutdown()
    }

    @Test func wrongTokenIs502() async throws {
        let bed = try await Testbed.start(relayToken: "not-the-token")
        let client = try await RawTCPClient.connect(port: bed.relay.port)
        try await client.send("CONNECT target.test:\(bed.target.port) HTTP/1.1\r\n\r\n")
        #expect(try await client.readToEndAsString().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        await bed.shutdown()
    }

    @Test func secureGatewayVerifiedAgainstTheTrustBundle() async throws {
        let bed = try await Testbed.start(secureGateway: true)
        let result = try await bed.curl(["--cacert", bed.caPath, bed.targetURL("/hello")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "hello from target\n")
        await bed.shutdown()
    }

    @Test func untrustedGatewayCertificateIs502() async throws {
        let bed = try await Testbed.start(secureGateway: true, relayTrustsCA: false)
        let client = try await RawTCPClient.connect(port: bed.relay.port)
        try await client.send("CONNECT target.test:\(bed.target.port) HTTP/1.1\r\n\r\n")
        #expect(try await client.readToEndAsString().hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        await bed.shutdown()
    }
}
