#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A file operation that failed, with the path and the system's reason.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var path: String
    public var errno: Int32

    public var description: String {
        "cannot \(self.operation) \(self.path): \(String(cString: strerror(self.errno)))"
    }
}

/// The few POSIX file operations relay-init needs. Plain syscalls rather than Foundation:
/// an init should stay small and predictable, and we need exact modes and atomic renames.
enum FileSystem {
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Reads a whole file. More than `limit` bytes is refused (EFBIG): nothing relay-init
    /// reads (token, CA bundle) is legitimately large, and a mistake should not fill memory.
    static func readFile(_ path: String, limit: Int) throws(FileError) -> (bytes: [UInt8], mode: mode_t) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(operation: "read", path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(operation: "read", path: path, errno: errno) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError(operation: "read", path: path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > limit { throw FileError(operation: "read", path: path, errno: EFBIG) }
        }
        return (bytes, info.st_mode)
    }

    /// `mkdir -p`: creates `path` and its missing parents with `mode`.
    static func createDirectories(_ path: String, mode: mode_t = 0o755) throws(FileError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw FileError(operation: "create directory", path: current, errno: errno)
            }
        }
    }

    /// The directory part of `path` (`.` for a bare name).
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    /// Writes `bytes` to a temporary file next to `path`, then renames it over `path`:
    /// a reader sees the old file or the new one, never half of one. Parents are created.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(FileError) {
        let directory = Self.parent(of: path)
        try Self.createDirectories(directory)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var template = Array("\(directory)/.\(name).XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw FileError(operation: "write", path: path, errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let temporaryPath = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        func fail(_ code: Int32) -> FileError {
            close(fd)
            unlink(temporaryPath)
            return FileError(operation: "write", path: path, errno: code)
        }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw fail(errno)
            }
            written += count
        }
        // mkostemp creates 0600; fchmod is not subject to the umask, so the mode is exact.
        guard fchmod(fd, mode) == 0 else { throw fail(errno) }
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw FileError(operation: "write", path: path, errno: code)
        }
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw FileError(operation: "write", path: path, errno: code)
        }
    }

    /// Removes a file; one that is already gone is not an error.
    static func remove(_ path: String) throws(FileError) {
        if unlink(path) != 0 && errno != ENOENT {
            throw FileError(operation: "delete", path: path, errno: errno)
        }
    }
}
