import Foundation

/// Locates the executable products SwiftPM built alongside the tests
/// (`relay-init`, `relay-gateway`, `relay-test-target`).
///
/// `swift test` builds every product into the same directory as the test
/// binary (`.build/<triple>/debug/` on Linux, next to
/// `<Package>PackageTests.xctest`), so the search starts from the running
/// executable. `RELAY_INIT_TEST_PRODUCTS` overrides it (e.g. to test a
/// release build).
public enum Binaries {
    public enum Error: Swift.Error, CustomStringConvertible {
        case notFound(name: String, searched: [String])

        public var description: String {
            switch self {
            case .notFound(let name, let searched):
                return "built executable '\(name)' not found in \(searched.joined(separator: ", ")); "
                    + "build it first (`swift build --product \(name)`; `swift test` builds all products), "
                    + "or point RELAY_INIT_TEST_PRODUCTS at the directory holding it"
            }
        }
    }

    /// Absolute path of the built executable `name`. Stops the test run with
    /// a message saying what to build when it is missing; use
    /// ``locate(_:)`` to handle that case instead.
    public static func path(_ name: String) -> String {
        do {
            return try locate(name)
        } catch {
            fatalError("\(error)")
        }
    }

    /// Absolute path of the built executable `name`, or ``Error/notFound(name:searched:)``.
    public static func locate(_ name: String) throws -> String {
        let directories = candidateDirectories()
        for directory in directories {
            let path = (directory as NSString).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: path) {
                return path
            }
        }
        throw Error.notFound(name: name, searched: directories)
    }

    /// Where products may be, most specific first, without duplicates.
    static func candidateDirectories() -> [String] {
        var directories: [String] = []
        if let override = ProcessInfo.processInfo.environment["RELAY_INIT_TEST_PRODUCTS"], !override.isEmpty {
            directories.append(override)
        }
        // Linux: the running test binary itself, symlinks resolved.
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append((executable as NSString).deletingLastPathComponent)
        }
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            directories.append(executable.deletingLastPathComponent().path)
        }
        // macOS: tests run inside `X.xctest/Contents/MacOS/`; products sit next to the bundle.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            directories.append((bundle.bundlePath as NSString).deletingLastPathComponent)
        }
        var seen = Set<String>()
        return directories.filter { seen.insert($0).inserted }
    }
}

/// Finds the external tools tests drive (curl, git, python3).
public enum Tools {
    /// The first executable `name` on `PATH` (then the usual system
    /// directories), or nil, so tests can skip when a tool is absent.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = (directory as NSString).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }
}

/// A fresh directory under the system temporary directory (`/tmp`), for
/// certificates, repositories and env files of one test.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "relay-init-test") throws {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix).XXXXXX")
        var template = Array(base.utf8CString)
        guard let created = mkdtemp(&template) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: base])
        }
        path = String(cString: created)
    }

    /// `path/name`.
    public func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// Deletes the directory and everything in it; errors are ignored (cleanup only).
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
