import Foundation

/// The contents of the file at `path` as UTF-8, or nil when it cannot be read (absent,
/// unreadable, a directory): tests compare it with what they expect, nil included.
///
/// Read with read(2) until it says end of file, not with `String(contentsOfFile:)`: for a
/// file whose size is 0, as every /proc file reports, Foundation stops at the first read that
/// fills less than its 4 KiB chunk, and a seq_file such as /proc/net/tcp hands out whole lines
/// only (27 lines, 4050 bytes), so that first read is always short and the rest of the table
/// was never seen.
public func readFile(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count == 0 { break }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        contents += chunk[..<count]
    }
    return String(bytes: contents, encoding: .utf8)
}

/// Whether anything exists at `path`.
public func fileExists(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path)
}
