import Foundation
import Testing
import TestSupport

@Suite struct TestCATests {
    @Test(.enabled(if: Tools.which("openssl") != nil, "needs openssl"))
    func leafVerifiesWithOpenSSLForServerAuth() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ca = TestCA()
        try ca.writeCertificate(to: directory.file("ca.pem"))
        let leaf = try ca.issue(dnsNames: ["target.test"], ipAddresses: ["127.0.0.1", "::1"])
        let (certPath, keyPath) = try leaf.writeFiles(to: directory.path)

        let verify = try await TestProcess.run(
            "openssl", ["verify", "-purpose", "sslserver", "-x509_strict", "-CAfile", directory.file("ca.pem"), certPath],
            timeout: .seconds(10)
        )
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        let text = try await TestProcess.run("openssl", ["x509", "-in", certPath, "-noout", "-text"], timeout: .seconds(10))
        #expect(text.stdout.contains("DNS:target.test"))
        #expect(text.stdout.contains("IP Address:127.0.0.1"))
        #expect(text.stdout.contains("IP Address:0:0:0:0:0:0:0:1"))

        let caText = try await TestProcess.run("openssl", ["x509", "-in", directory.file("ca.pem"), "-noout", "-subject"], timeout: .seconds(10))
        #expect(caText.stdout.contains("CN = relay-init test CA"))

        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func invalidIPAddressIsAnError() {
        #expect(throws: TestCAError.invalidIPAddress("300.1.1.1")) {
            try TestCA().issue(dnsNames: ["x"], ipAddresses: ["300.1.1.1"])
        }
    }
}
