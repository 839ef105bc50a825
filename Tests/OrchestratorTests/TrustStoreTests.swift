import Foundation
import Logging
import Orchestrator
import TestSupport
import Testing

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

@Suite struct TrustStoreTests {
    @Test func oneCertificate() throws {
        #expect(try TrustStore.parseCertificates(Array(PEMFixtures.caA.utf8)).count == 1)
    }

    @Test func bundleWithCommentsAndCRLF() throws {
        let bundle = "# Issuer: test A\n" + PEMFixtures.caA + "\n# Issuer: test B\r\n" + PEMFixtures.caB.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try TrustStore.parseCertificates(Array(bundle.utf8)).count == 2)
    }

    @Test func aGeneratedCAParsesToo() throws {
        #expect(try TrustStore.parseCertificates(Array(TestCA().certificatePEM.utf8)).count == 1)
    }

    @Test func garbageSaysWhatWasReceived() throws {
        let body = Array("<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n".utf8) + [0, 1, 2]
        let error = #expect(throws: TrustStoreError.self) { try TrustStore.parseCertificates(body) }
        let message = error?.description ?? ""
        #expect(message.contains("\(body.count) bytes"), "\(message)")
        #expect(message.contains("<!DOCTYPE html> <html><body>502 Bad Gateway"), "\(message)")
        #expect(!message.contains("\n"))
    }

    @Test func emptyBody() throws {
        let error = #expect(throws: TrustStoreError.self) { try TrustStore.parseCertificates([]) }
        #expect(error?.description.contains("empty") == true)
    }

    @Test func badBase64InsideAPEMBlock() throws {
        let broken = PEMFixtures.caA.replacingOccurrences(of: "MIIBkDCCATeg", with: "MIIB!!!!ATeg")
        let error = #expect(throws: TrustStoreError.self) { try TrustStore.parseCertificates(Array(broken.utf8)) }
        guard case .malformedPEM? = error else {
            Issue.record("expected malformedPEM, got \(String(describing: error))")
            return
        }
    }

    @Test func truncatedDERInsideAPEMBlock() throws {
        // Valid base64, but not a certificate.
        let fake = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"
        #expect(throws: TrustStoreError.self) { try TrustStore.parseCertificates(Array((PEMFixtures.caA + fake).utf8)) }
    }

    @Test func aKeyIsNeverAccepted() throws {
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
        let error = #expect(throws: TrustStoreError.self) { try TrustStore.parseCertificates(Array((PEMFixtures.caA + key).utf8)) }
        #expect(error?.description.contains("PRIVATE KEY") == true)
    }

    @Test func beginWithoutEnd() throws {
        let cut = String(PEMFixtures.caA.dropLast(30))
        let error = #expect(throws: TrustStoreError.self) { try TrustStore.parseCertificates(Array(cut.utf8)) }
        #expect(error?.description.contains("malformed PEM") == true, "\(String(describing: error))")
    }

    /// A key anywhere in the body refuses the whole body, even after good certificates.
    @Test func aKeyAfterTwoCertificatesIsRefusedByLabel() throws {
        let key = "-----BEGIN EC PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END EC PRIVATE KEY-----\n"
        let error = #expect(throws: TrustStoreError.self) {
            try TrustStore.parseCertificates(Array((PEMFixtures.caA + PEMFixtures.caB + key).utf8))
        }
        guard case .unexpectedBlock("EC PRIVATE KEY")? = error else {
            Issue.record("expected unexpectedBlock, got \(String(describing: error))")
            return
        }
    }

    /// The second certificate's DER is broken: the message names it by its position.
    @Test func aBrokenSecondCertificateIsNamedByIndex() throws {
        let fake = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"
        let error = #expect(throws: TrustStoreError.self) { try TrustStore.parseCertificates(Array((PEMFixtures.caA + fake).utf8)) }
        guard case .badCertificate(2, _)? = error else {
            Issue.record("expected badCertificate(2), got \(String(describing: error))")
            return
        }
    }

    @Test func bundleIsSystemThenNewlineThenGatewayCA() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let system = directory.file("system.pem")
        try "SYSTEM-WITHOUT-NEWLINE".write(toFile: system, atomically: true, encoding: .utf8)
        let bundle = directory.file("out/ca-bundle.crt")
        try TrustStore.writeBundle(gatewayCA: Array(PEMFixtures.caA.utf8), systemCA: system, to: bundle, logger: quietLogger)
        #expect(readFile(bundle) == "SYSTEM-WITHOUT-NEWLINE\n" + PEMFixtures.caA)
        #expect((try FileManager.default.attributesOfItem(atPath: bundle)[.posixPermissions] as? Int) == 0o644)
    }

    @Test func noSystemBundleGivesTheGatewayCAAlone() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let bundle = directory.file("ca-bundle.crt")
        try TrustStore.writeBundle(gatewayCA: Array(PEMFixtures.caB.utf8), systemCA: nil, to: bundle, logger: quietLogger)
        #expect(readFile(bundle) == PEMFixtures.caB)
        try TrustStore.writeBundle(gatewayCA: Array(PEMFixtures.caA.utf8), systemCA: directory.file("missing.pem"), to: bundle, logger: quietLogger)
        #expect(readFile(bundle) == PEMFixtures.caA)
    }

    /// `--install-system-trust` as a non-root user: a setup failure saying so (fail-closed: 69).
    @Test(.enabled(if: getuid() == 0 && Tools.which("setpriv") != nil, "needs root to switch to an unprivileged user"))
    func installSystemTrustNeedsRoot() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await FakeHTTPServer.start(root: directory.path)
        defer { server.stop() }
        try server.serve(PEMFixtures.caA, at: "v1/code/upstreamproxy/ca-cert")
        chmod(directory.path, 0o777)

        let result = try await TestProcess.run(
            "setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", RelayInitBinary.path, "--fail-closed", "--install-system-trust",
             "--gateway", server.baseURL, "--session-id", "s", "--env-file", directory.file("proxy.env"),
             "--ca-bundle", directory.file("ca-bundle.crt"), "--", "true"],
            environment: TestProcess.minimalEnvironment(["RELAY_INIT_TOKEN": "t"])
        )
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("--install-system-trust needs root"), "\(result.stderr)")
    }
}
