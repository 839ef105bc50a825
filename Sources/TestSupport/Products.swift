import Foundation

/// Which build of `relay-init` and `relay-gateway` a test runs.
///
/// Most tests run the products `swift test` built with them (debug). The bounded-memory tests
/// move 256 MiB each way, and a debug build masks and unmasks WebSocket payloads a byte at a
/// time (about 6 MB/s per direction on the reference machine, so an upload would take minutes):
/// they prefer an optimised build.
public struct Products: Sendable, CustomStringConvertible {
    public let directory: String
    public let isOptimised: Bool

    public init(directory: String, isOptimised: Bool) {
        self.directory = directory
        self.isOptimised = isOptimised
    }

    public var relayInit: String { (self.directory as NSString).appendingPathComponent("relay-init") }
    public var relayGateway: String { (self.directory as NSString).appendingPathComponent("relay-gateway") }

    public var description: String { "\(self.isOptimised ? "release" : "debug") products in \(self.directory)" }

    /// The products built with the tests.
    public static var debug: Products {
        Products(directory: (Binaries.path("relay-init") as NSString).deletingLastPathComponent, isOptimised: false)
    }

    /// `RELIABILITY_PRODUCTS` if set to a directory (taken to be optimised; `debug` means none);
    /// else `.build/release` when it holds both programs and they are newer than every product
    /// source (a stale release build would test yesterday's code); else nil.
    public static var optimised: Products? {
        if let directory = ProcessInfo.processInfo.environment["RELIABILITY_PRODUCTS"], !directory.isEmpty {
            return directory == "debug" ? nil : Products(directory: directory, isOptimised: true)
        }
        let root = Self.packageRoot
        let release = Products(directory: root + "/.build/release", isOptimised: true)
        let built = [release.relayInit, release.relayGateway].map(Self.modificationDate)
        guard let oldest = built.compactMap({ $0 }).min(), built.count == built.compactMap({ $0 }).count,
              let sources = Self.newestProductSource(root: root), sources <= oldest
        else { return nil }
        return release
    }

    /// Optimised if available, else debug: for tests that can run either way at different sizes.
    public static var preferOptimised: Products { Self.optimised ?? Self.debug }

    /// The package root: two levels above this file's directory (`Sources/TestSupport/`).
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    private static func modificationDate(_ path: String) -> Date? {
        guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
        return (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// The newest modification time among the sources the two programs are built from.
    private static func newestProductSource(root: String) -> Date? {
        let excluded: Set<String> = ["TestSupport", "relay-test-target"]
        let sources = root + "/Sources"
        guard let modules = try? FileManager.default.contentsOfDirectory(atPath: sources) else { return nil }
        var newest = Date.distantPast
        for module in modules where !excluded.contains(module) {
            guard let files = FileManager.default.enumerator(atPath: "\(sources)/\(module)") else { continue }
            for case let file as String in files {
                if let date = (try? FileManager.default.attributesOfItem(atPath: "\(sources)/\(module)/\(file)"))?[.modificationDate] as? Date {
                    newest = max(newest, date)
                }
            }
        }
        // Package.swift is left out on purpose: it changes whenever a test target is added.
        for file in ["Package.resolved"] {
            if let date = (try? FileManager.default.attributesOfItem(atPath: "\(root)/\(file)"))?[.modificationDate] as? Date {
                newest = max(newest, date)
            }
        }
        return newest
    }
}
