import Foundation
import Testing
import TestSupport

/// ProcFS reads tables of /proc/net that are as long as the namespace is busy: every line
/// counts, not only the first page.
@Suite struct ProcFSTests {
    /// 100 listeners make /proc/net/tcp about 15 KiB, several reads of a seq_file that hands
    /// out whole lines only; `String(contentsOfFile:)` kept the first 4050 bytes (26 sockets).
    @Test func everyListenerOfALongTableIsRecognised() throws {
        let listeners = try (0..<100).map { _ in try Self.listen() }
        defer { listeners.forEach { close($0.descriptor) } }
        let proc = ProcFS(pid: getpid())
        let recognised = proc.listenerInodes
        let missing = listeners.filter { !recognised.contains(Substring(String($0.inode))) }
        #expect(missing.isEmpty, "\(missing.count) of \(listeners.count) listeners not in /proc/net/tcp as read")
        #expect(proc.socketInodes?.isSuperset(of: listeners.map { Substring(String($0.inode)) }) == true)
    }

    /// A TCP socket listening on an ephemeral port of 127.0.0.1, and its inode.
    private static func listen() throws -> (descriptor: Int32, inode: UInt) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var status = stat()
        guard bound == 0, Glibc.listen(descriptor, 1) == 0, fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        return (descriptor, UInt(status.st_ino))
    }
}
