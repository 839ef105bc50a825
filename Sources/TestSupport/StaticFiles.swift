import Foundation
import NIOCore

/// Resolves `/static/…` requests against a directory on disk. Blocking file
/// system calls: run it on a thread pool, never on an event loop.
struct StaticFiles: Sendable {
    enum Lookup: Sendable, Equatable {
        case file(ByteBuffer, contentType: String)
        /// A directory asked for without its trailing slash: relative links in
        /// its `index.html` (pip's simple index) only work from the slash form.
        case redirect(location: String)
        case notFound
    }

    /// The root with symlinks resolved, so containment can be checked on real paths.
    let root: String

    init(root: String) {
        self.root = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
    }

    func lookup(components: [String], trailingSlash: Bool, requestPath: String) -> Lookup {
        var path = components.reduce(root) { ($0 as NSString).appendingPathComponent($1) }
        // Components never contain `..`, but a symlink inside the root still could point out of it.
        path = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            return .notFound
        }

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .notFound
        }
        if isDirectory.boolValue {
            guard trailingSlash else {
                return .redirect(location: requestPath + "/")
            }
            return readFile((path as NSString).appendingPathComponent("index.html"))
        }
        // `/static/file.txt/` names a directory that is a file: nothing there.
        return trailingSlash ? .notFound : readFile(path)
    }

    private func readFile(_ path: String) -> Lookup {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .notFound
        }
        return .file(ByteBuffer(bytes: data), contentType: Self.contentType(forPath: path))
    }

    static func contentType(forPath path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "html", "htm": "text/html; charset=utf-8"
        case "txt": "text/plain; charset=utf-8"
        case "json": "application/json"
        case "pem": "application/x-pem-file"
        default: "application/octet-stream"
        }
    }
}
