import Foundation

/// The contents of the file at `path` as UTF-8, or nil when it cannot be read (absent,
/// unreadable, a directory): tests compare it with what they expect, nil included.
public func readFile(_ path: String) -> String? {
    try? String(contentsOfFile: path, encoding: .utf8)
}

/// Whether anything exists at `path`.
public func fileExists(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path)
}
