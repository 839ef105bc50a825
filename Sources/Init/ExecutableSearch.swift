#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Finds the file a command name runs, as sh does: the name itself when it has a `/`, else
/// the first executable regular file of that name in a `:`-separated search path.
public enum ExecutableSearch {
    /// The shell's default when PATH is unset.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The first executable regular file named `name` in `searchPath`, or nil.
    public static func find(_ name: String, searchPath: String) -> String? {
        Self.candidates(name, searchPath: searchPath).first { Self.isRegularFile($0) && access($0, X_OK) == 0 }
    }

    /// The file `name` runs, or why there is none: not found (127) or found but not
    /// executable (126), with the path in the message.
    static func resolve(_ name: String, searchPath: String?) throws(SpawnError) -> String {
        if name.contains("/") {
            var info = stat()
            guard stat(name, &info) == 0 else {
                throw SpawnError(command: name, reason: .notFound(searchedPath: nil))
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                throw SpawnError(command: name, reason: .notExecutable(path: name, detail: "it is a directory"))
            }
            guard access(name, X_OK) == 0 else {
                throw SpawnError(command: name, reason: .notExecutable(path: name, detail: Errno(errno).description))
            }
            return name
        }
        let path = searchPath ?? Self.defaultPath
        if let found = Self.find(name, searchPath: path) { return found }
        // Found but not executable is 126, as in sh.
        if let candidate = Self.candidates(name, searchPath: path).first(where: Self.isRegularFile) {
            throw SpawnError(command: name, reason: .notExecutable(path: candidate, detail: "permission denied"))
        }
        throw SpawnError(command: name, reason: .notFound(searchedPath: path))
    }

    /// `directory/name` for each directory of `searchPath`; an empty entry is the current directory.
    private static func candidates(_ name: String, searchPath: String) -> [String] {
        searchPath.split(separator: ":", omittingEmptySubsequences: false).map { ($0.isEmpty ? "." : String($0)) + "/" + name }
    }

    private static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}
