import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway certificate authority for tests: one P-256 key, one self-signed
/// root, and leaves issued on demand.
///
/// The certificates are deliberately "boring" (v3, SKI/AKI, critical basic
/// constraints and key usage) so that OpenSSL (curl, git), Python's `ssl` in
/// strict mode, and BoringSSL (NIOSSL) all accept them without flags.
public struct TestCA: Sendable {
    public let certificate: Certificate
    private let privateKey: Certificate.PrivateKey
    /// The CA's subjectKeyIdentifier, repeated as every leaf's authorityKeyIdentifier
    /// so OpenSSL can pick the issuer by key, not only by name.
    private let keyIdentifier: ArraySlice<UInt8>

    /// The CA certificate, PEM encoded; the trust anchor to hand to clients.
    public let certificatePEM: String

    /// Creates a new CA with a fresh key, valid from an hour ago for 30 days.
    ///
    /// Not throwing: with a freshly generated P-256 key and fixed, valid
    /// inputs, certificate construction cannot fail; if it ever did the
    /// library itself would be broken, which is worth a loud stop.
    public init(commonName: String = "relay-init test CA") {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let now = Date()
        do {
            let name = try DistinguishedName {
                OrganizationName("relay-init tests")
                CommonName(commonName)
            }
            let keyIdentifier = SubjectKeyIdentifier(hash: key.publicKey)
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                keyIdentifier
                AuthorityKeyIdentifier(keyIdentifier: keyIdentifier.keyIdentifier)
            }
            let certificate = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: key.publicKey,
                notValidBefore: now - 3600,
                notValidAfter: now + 30 * 86400,
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions,
                issuerPrivateKey: key
            )
            self.certificate = certificate
            self.privateKey = key
            self.keyIdentifier = keyIdentifier.keyIdentifier
            self.certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
        } catch {
            preconditionFailure("creating the test CA failed: \(error)")
        }
    }

    /// Issues a TLS server certificate for the given names, signed by this CA.
    ///
    /// - Parameters:
    ///   - dnsNames: DNS names for the subjectAltName; the first is also the subject CN.
    ///   - ipAddresses: textual IPv4/IPv6 addresses, encoded as 4/16-byte SAN entries.
    /// - Throws: ``TestCAError/invalidIPAddress(_:)`` for an unparsable address.
    public func issue(dnsNames: [String], ipAddresses: [String] = []) throws -> IssuedCertificate {
        guard !dnsNames.isEmpty || !ipAddresses.isEmpty else {
            throw TestCAError.noNames
        }
        var altNames = dnsNames.map { GeneralName.dnsName($0) }
        for address in ipAddresses {
            altNames.append(.ipAddress(ASN1OctetString(contentBytes: try Self.octets(of: address)[...])))
        }

        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let now = Date()
        let subject = try DistinguishedName {
            OrganizationName("relay-init tests")
            CommonName(dnsNames.first ?? ipAddresses[0])
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(altNames)
            SubjectKeyIdentifier(hash: key.publicKey)
            AuthorityKeyIdentifier(keyIdentifier: keyIdentifier)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: now - 3600,
            notValidAfter: now + 86400,
            issuer: self.certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: self.privateKey
        )
        return IssuedCertificate(
            certificate: certificate,
            certificatePEM: try certificate.serializeAsPEM().pemString + "\n",
            privateKeyPEM: try key.serializeAsPEM().pemString + "\n",
            dnsNames: dnsNames,
            ipAddresses: ipAddresses
        )
    }

    /// Writes the CA certificate (PEM) to `path`, replacing any existing file.
    public func writeCertificate(to path: String) throws {
        try Data(certificatePEM.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The 4 or 16 network-order bytes of a textual IP address, as a SAN wants them.
    static func octets(of address: String) throws -> [UInt8] {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        throw TestCAError.invalidIPAddress(address)
    }
}

/// A leaf certificate and its private key, as issued by ``TestCA``.
public struct IssuedCertificate: Sendable {
    public let certificate: Certificate
    public let certificatePEM: String
    /// PKCS#8 (`BEGIN PRIVATE KEY`) encoding of the leaf's P-256 key.
    public let privateKeyPEM: String
    public let dnsNames: [String]
    public let ipAddresses: [String]

    /// Writes `NAME.pem` and `NAME-key.pem` (mode 0600) into `directory`.
    @discardableResult
    public func writeFiles(to directory: String, name: String = "server") throws -> (certPath: String, keyPath: String) {
        let certPath = (directory as NSString).appendingPathComponent("\(name).pem")
        let keyPath = (directory as NSString).appendingPathComponent("\(name)-key.pem")
        try Data(certificatePEM.utf8).write(to: URL(fileURLWithPath: certPath), options: .atomic)
        // Created 0600 from the start: a private key should never be world-readable, even briefly.
        try? FileManager.default.removeItem(atPath: keyPath)
        guard FileManager.default.createFile(
            atPath: keyPath, contents: Data(privateKeyPEM.utf8), attributes: [.posixPermissions: 0o600]
        ) else {
            throw TestCAError.cannotWrite(keyPath)
        }
        return (certPath, keyPath)
    }
}

public enum TestCAError: Error, Equatable, CustomStringConvertible {
    case invalidIPAddress(String)
    case noNames
    case cannotWrite(String)

    public var description: String {
        switch self {
        case .invalidIPAddress(let address): "not an IPv4 or IPv6 address: \(address)"
        case .noNames: "a certificate needs at least one DNS name or IP address"
        case .cannotWrite(let path): "cannot write \(path)"
        }
    }
}
