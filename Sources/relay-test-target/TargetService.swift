import Foundation
import RelayProtocol
import ServiceLifecycle
import TestSupport

/// `relay-test-target`'s work as a swift-service-lifecycle `Service`: writes the CA and the
/// server certificate, serves `HTTPSTarget`, prints the listening line, and stops on graceful
/// shutdown.
struct TargetService: Service, CustomStringConvertible {
    let address: ListenAddress
    let certDirectory: String
    let dnsNames: [String]
    let plainHTTP: Bool
    let staticRoot: String?

    /// What `ServiceGroup` logs for this service (at debug).
    var description: String { "TargetService on \(address)" }

    func run() async throws {
        try FileManager.default.createDirectory(atPath: certDirectory, withIntermediateDirectories: true)
        let ca = TestCA()
        try ca.writeCertificate(to: (certDirectory as NSString).appendingPathComponent("ca.pem"))
        let leaf = try ca.issue(dnsNames: dnsNames, ipAddresses: ["127.0.0.1", "::1"])
        try leaf.writeFiles(to: certDirectory, name: "server")

        let target = try await HTTPSTarget.start(
            host: address.host, port: address.port, tls: plainHTTP ? nil : leaf, staticRoot: staticRoot
        )
        let shownHost = address.host.contains(":") ? "[\(address.host)]" : address.host
        print("relay-test-target listening on \(shownHost):\(target.port)")
        // Scripts wait for this line through a pipe, where stdout is block-buffered.
        fflush(nil)

        // Returns on graceful shutdown; throws (and so ends the wait too) when cancelled.
        try? await gracefulShutdown()
        await target.shutdown()
    }
}
