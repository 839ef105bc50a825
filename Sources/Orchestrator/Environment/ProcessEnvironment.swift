#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process environment as `NAME=value` strings, in order.
enum ProcessEnvironment {
    static func current() -> [String] {
        var entries: [String] = []
        var pointer = environ
        while let entry = pointer.pointee {
            entries.append(String(cString: entry))
            pointer += 1
        }
        return entries
    }

    static func dictionary(_ entries: [String]) -> [String: String] {
        var dictionary: [String: String] = [:]
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            // The first definition wins, as getenv(3) sees it.
            if dictionary[String(parts[0])] == nil {
                dictionary[String(parts[0])] = parts.count == 2 ? String(parts[1]) : ""
            }
        }
        return dictionary
    }
}
