import Init
import Logging
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum TrustStoreError: Error, CustomStringConvertible, Sendable {
    /// The CA endpoint's body holds no PEM certificate. `preview` is its printable start.
    case notPEM(byteCount: Int, preview: String)
    /// A PEM block that is not a certificate (a key, a CSR…): never written to a trust store.
    case unexpectedBlock(label: String)
    /// PEM framing that does not parse: bad base64, wrong line lengths, BEGIN without END.
    case malformedPEM(reason: String)
    /// A `CERTIFICATE` block whose content does not parse.
    case badCertificate(index: Int, reason: String)
    case file(FileError)
    case notRoot(effectiveUID: UInt32)
    case noTrustTool
    case trustToolFailed(tool: String, status: String)

    public var description: String {
        switch self {
        case .notPEM(0, _):
            return "the CA endpoint returned an empty body instead of PEM certificates"
        case .notPEM(let count, let preview):
            return "the CA endpoint did not return PEM certificates: received \(count) bytes starting \"\(preview)\""
        case .unexpectedBlock(let label):
            return "the CA endpoint returned a PEM \(label) block; only CERTIFICATE blocks are accepted"
        case .malformedPEM(let reason):
            return "the CA endpoint returned malformed PEM: \(reason)"
        case .badCertificate(let index, let reason):
            return "certificate \(index) from the CA endpoint does not parse: \(reason)"
        case .file(let error):
            return error.description
        case .notRoot(let uid):
            return "--install-system-trust needs root, but the effective uid is \(uid): run as root or drop the option"
        case .noTrustTool:
            return "--install-system-trust found neither update-ca-certificates (Debian, Ubuntu, Alpine) nor update-ca-trust (RHEL, Fedora): install the ca-certificates package or drop the option"
        case .trustToolFailed(let tool, let status):
            return "--install-system-trust: \(tool) \(status)"
        }
    }
}

/// The gateway CA: checked, merged with the system bundle into `--ca-bundle`, and optionally
/// added to the OS trust store.
public enum TrustStore {
    /// Splits `body` into PEM blocks (SwiftASN1's `PEMDocument`) and parses each as an X.509
    /// certificate. Text between blocks is allowed (bundles carry comments); anything but
    /// certificates is refused.
    @discardableResult
    public static func parseCertificates(_ body: [UInt8]) throws(TrustStoreError) -> [Certificate] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: String(decoding: body, as: UTF8.self))
        } catch {
            throw .malformedPEM(reason: String(describing: error))
        }
        guard !documents.isEmpty else {
            throw .notPEM(byteCount: body.count, preview: Self.preview(body))
        }
        if let other = documents.first(where: { $0.discriminator != Certificate.defaultPEMDiscriminator }) {
            throw .unexpectedBlock(label: other.discriminator)
        }
        var certificates: [Certificate] = []
        for document in documents {
            do {
                certificates.append(try Certificate(pemDocument: document))
            } catch {
                throw .badCertificate(index: certificates.count + 1, reason: String(describing: error))
            }
        }
        return certificates
    }

    /// The first 60 bytes, printable ASCII kept, anything else shown as `.`: enough for a
    /// user to recognise an HTML error page or a JSON message.
    static func preview(_ body: [UInt8]) -> String {
        String(body.prefix(60).map { byte -> Character in
            switch byte {
            case 0x20...0x7E where byte != UInt8(ascii: "\""): return Character(Unicode.Scalar(byte))
            case UInt8(ascii: "\""): return "'"
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): return " "
            default: return "."
            }
        })
    }

    /// System bundle + `\n` + gateway CA: the `\n` keeps the two apart when the system
    /// bundle does not end in a newline.
    public static func mergedBundle(system: [UInt8]?, gatewayCA: [UInt8]) -> [UInt8] {
        guard let system else { return gatewayCA }
        return system + Array("\n".utf8) + gatewayCA
    }

    /// Writes the merged bundle to `path` (atomically, 0644). A missing system bundle is a
    /// warning, not a failure: the bundle then holds the gateway CA alone.
    public static func writeBundle(gatewayCA: [UInt8], systemCA: String?, to path: String, logger: Logger) throws(TrustStoreError) {
        var system: [UInt8]?
        if let systemCA {
            do {
                system = try FileSystem.readFile(systemCA, limit: 64 << 20).bytes
            } catch {
                logger.warning("no system CA bundle (\(error)); \(path) holds the gateway CA alone")
            }
        } else {
            logger.warning("no system CA bundle found (looked for \(Settings.Defaults.systemCACandidates.joined(separator: ", "))); \(path) holds the gateway CA alone")
        }
        do {
            try FileSystem.writeAtomically(Self.mergedBundle(system: system, gatewayCA: gatewayCA), to: path, mode: 0o644)
        } catch {
            throw .file(error)
        }
    }

    /// A platform's tool for adding a CA to the OS trust store, and where it picks CAs up.
    struct SystemTrustTool {
        var name: String
        var anchorPath: String
        var arguments: [String]

        static let all = [
            SystemTrustTool(
                name: "update-ca-certificates",
                anchorPath: "/usr/local/share/ca-certificates/relay-init-gateway-ca.crt",
                arguments: []
            ),
            SystemTrustTool(
                name: "update-ca-trust",
                anchorPath: "/etc/pki/ca-trust/source/anchors/relay-init-gateway-ca.crt",
                arguments: ["extract"]
            ),
        ]
    }

    /// `--install-system-trust`: root only; the tool is found at run time, so one binary
    /// serves Debian-, Alpine- and RHEL-based images. The CA stays installed after exit.
    public static func installSystemTrust(gatewayCA: [UInt8], environment: [String: String], logger: Logger) throws(TrustStoreError) {
        let uid = geteuid()
        guard uid == 0 else { throw .notRoot(effectiveUID: uid) }
        // Tools live in sbin, which a container's PATH does not always include.
        let searchPath = (environment["PATH"].map { $0 + ":" } ?? "") + ExecutableSearch.defaultPath
        guard let (tool, executable) = SystemTrustTool.all.lazy
            .compactMap({ tool in ExecutableSearch.find(tool.name, searchPath: searchPath).map { (tool, $0) } })
            .first
        else { throw .noTrustTool }

        do {
            try FileSystem.writeAtomically(gatewayCA, to: tool.anchorPath, mode: 0o644)
        } catch {
            throw .file(error)
        }
        logger.debug("running \(executable) \(tool.arguments.joined(separator: " "))")
        switch SetupTool.run(executable, arguments: tool.arguments) {
        case .exited(0):
            logger.info("added the gateway CA to the system trust store (\(tool.anchorPath))")
        case .exited(let code):
            throw .trustToolFailed(tool: tool.name, status: "exited with status \(code)")
        case .signaled(let signal):
            throw .trustToolFailed(tool: tool.name, status: "was killed by signal \(signal)")
        case .couldNotStart(let code):
            throw .trustToolFailed(tool: tool.name, status: "could not start: \(String(cString: strerror(code)))")
        }
    }
}
