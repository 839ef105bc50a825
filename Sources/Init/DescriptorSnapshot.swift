#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The descriptors open in this process, read from /proc/self/fd.
struct DescriptorSnapshot: Sendable {
    var descriptors: Set<CInt>

    static func current() -> DescriptorSnapshot {
        guard let directory = opendir("/proc/self/fd") else {
            // No /proc: probe the usual range instead.
            return DescriptorSnapshot(descriptors: Set((0..<1024).filter { fcntl($0, F_GETFD) >= 0 }))
        }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var descriptors: Set<CInt> = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if let fd = CInt(name), fd != own { descriptors.insert(fd) }
        }
        return DescriptorSnapshot(descriptors: descriptors)
    }
}
