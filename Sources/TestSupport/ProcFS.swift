import Foundation

/// What /proc says about another process: the figures the reliability tests bound, and the
/// states no event announces (descriptors closing, a child turned zombie).
/// Linux only, like the rest of the suite (the relay's targets are Linux containers).
public struct ProcFS: Sendable {
    public let pid: Int32

    public init(pid: Int32) {
        self.pid = pid
    }

    /// Open file descriptors (entries of /proc/PID/fd), or nil once the process is gone.
    public var openFDs: Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(self.pid)/fd"))?.count
    }

    /// What the descriptors are (`socket:[…]`, `anon_inode:[eventpoll]`, a path…), for failure
    /// messages: a leak is much easier to find when the message says what leaked.
    public var fdTargets: [String] {
        let directory = "/proc/\(self.pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") }.sorted()
    }

    /// Sockets of the process other than TCP listeners: connections, or what is left of them
    /// until the descriptor is closed (a socket whose connection has ended is in no table of
    /// /proc/net, so listeners are what is recognised, from /proc/PID/net/tcp{,6}). Nil once
    /// the process is gone.
    public var openConnections: Int? {
        guard let sockets = self.socketInodes else { return nil }
        return sockets.subtracting(self.listenerInodes).count
    }

    /// The inodes of the process's sockets (`socket:[INODE]` in /proc/PID/fd), or nil once the
    /// process is gone.
    public var socketInodes: Set<Substring>? {
        let directory = "/proc/\(self.pid)/fd"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        return Set(names.compactMap { name -> Substring? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)"),
                  target.hasPrefix("socket:[")
            else { return nil }
            return Substring(target.dropFirst("socket:[".count).dropLast())
        })
    }

    /// The inodes of the TCP sockets in LISTEN state in the process's network namespace, from
    /// /proc/PID/net/tcp{,6}: the whole namespace's table, hundreds of lines while other suites
    /// run, so it is read to its end (see ``readFile(_:)``).
    public var listenerInodes: Set<Substring> {
        var listeners: Set<Substring> = []
        for table in ["tcp", "tcp6"] {
            guard let text = readFile("/proc/\(self.pid)/net/\(table)") else { continue }
            // `sl local rem st … inode`: st is field 3 (0A: LISTEN), the inode field 9.
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                if fields.count > 9, fields[3] == "0A" {
                    listeners.insert(fields[9])
                }
            }
        }
        return listeners
    }

    /// The descriptor count once the process holds no connection: waits (polling /proc, there
    /// is no event for it) until the sockets of the tunnels and fetches before have closed,
    /// then counts. A baseline that cannot include a socket still on its way out, however
    /// slow the machine.
    ///
    /// A socket seen listening once stays a listener until it is closed, so the listeners seen
    /// are kept across polls: the table is read in several read(2) calls, and the kernel resumes
    /// each at a position that can move while sockets of other processes come and go, so one
    /// read may miss a line.
    public func idleDescriptorCount(timeout: Duration = .seconds(10)) async throws -> Int {
        var count: Int?
        var listeners: Set<Substring> = []
        var connections: Set<Substring>?
        func connectionsNow() -> Set<Substring>? {
            guard let sockets = self.socketInodes else { return nil }
            if !sockets.isSubset(of: listeners) { listeners.formUnion(self.listenerInodes) }
            return sockets.subtracting(listeners)
        }
        do {
            try await waitUntil("pid \(self.pid) to hold no socket but its listeners", timeout: timeout) {
                connections = connectionsNow()
                guard connections?.isEmpty == true else { return false }
                count = self.openFDs
                // A connection accepted between the two reads would be counted: read again.
                connections = connectionsNow()
                return connections?.isEmpty == true && count != nil
            }
        } catch let timeout as TestTimeoutError {
            throw NotIdle(pid: self.pid, timeout: timeout, connections: connections, listeners: listeners, targets: self.fdTargets)
        }
        return count!
    }

    /// Waits until the process's open descriptors are back to `baseline`; the error names
    /// what is open then, since a leak is much easier to find when the message says what leaked.
    public func waitForDescriptors(_ baseline: Int, name: String, after: String, timeout: Duration = .seconds(10)) async throws {
        do {
            try await waitUntil("\(name)'s descriptors back to \(baseline) after \(after)", timeout: timeout) {
                self.openFDs == baseline
            }
        } catch {
            throw DescriptorsNotBack(name: name, after: after, baseline: baseline, open: self.openFDs, targets: self.fdTargets)
        }
    }

    /// Resident set size in KiB (VmRSS).
    public var residentKiB: Int? { self.statusField("VmRSS") }

    /// Threads of the process.
    public var threads: Int? { self.statusField("Threads") }

    /// The fields of /proc/PID/status (`State`, `PPid`, `VmRSS`, …) as text, or nil once the
    /// process is gone (a zombie still has them).
    public var status: [String: String]? {
        guard let text = readFile("/proc/\(self.pid)/status") else { return nil }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return fields
    }

    /// Children of `parent` that have exited and wait to be reaped, from /proc.
    public static func zombieChildren(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let status = ProcFS(pid: pid).status else { return false }
            return status["PPid"] == String(parent) && status["State"]?.hasPrefix("Z") == true
        }
    }

    /// The first number of the `NAME:` line of /proc/PID/status.
    private func statusField(_ name: String) -> Int? {
        // `Threads:\t6`, `VmRSS:\t   40580 kB`: the number, then maybe a unit.
        self.status?[name]?.split(separator: " ").first.flatMap { Int($0) }
    }

    /// User + system CPU time so far, in seconds (/proc/PID/stat fields 14 and 15).
    public var cpuSeconds: Double {
        guard let stat = readFile("/proc/\(self.pid)/stat"),
              let end = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        // After the command name: field 3 is at index 0, so utime (14) and stime (15) are 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A one-line summary for messages: `fds=15 rss=40580KiB threads=6`.
    public var summary: String {
        "fds=\(self.openFDs.map(String.init) ?? "?") rss=\(self.residentKiB.map(String.init) ?? "?")KiB threads=\(self.threads.map(String.init) ?? "?")"
    }
}

/// ``ProcFS/waitForDescriptors(_:name:after:timeout:)`` gave up.
public struct DescriptorsNotBack: Error, CustomStringConvertible {
    public let name: String
    public let after: String
    public let baseline: Int
    public let open: Int?
    public let targets: [String]

    public var description: String {
        "\(self.name) has \(self.open ?? -1) descriptors after \(self.after), baseline \(self.baseline): \(self.targets)"
    }
}

/// ``ProcFS/idleDescriptorCount(timeout:)`` gave up: which sockets were still taken for
/// connections, and which were recognised as listeners, when it did.
public struct NotIdle: Error, CustomStringConvertible {
    public let pid: Int32
    public let timeout: TestTimeoutError
    public let connections: Set<Substring>?
    public let listeners: Set<Substring>
    public let targets: [String]

    public var description: String {
        let connections = self.connections.map { $0.sorted().joined(separator: ", ") } ?? "process gone"
        return "\(self.timeout): connections [\(connections)], listeners seen [\(self.listeners.sorted().joined(separator: ", "))], descriptors \(self.targets)"
    }
}

/// Samples a process's VmRSS in the background and keeps the peak: a transfer's worst moment
/// can be shorter than any interval a test would pick for single readings.
public final class PeakResidentSampler: Sendable {
    private let peak = LockedBox(0)
    private let task: Task<Void, Never>

    public init(pid: Int32, every interval: Duration = .milliseconds(10)) {
        let peak = self.peak
        let proc = ProcFS(pid: pid)
        self.task = Task.detached {
            while !Task.isCancelled {
                if let rss = proc.residentKiB {
                    peak.withLock { $0 = max($0, rss) }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// The highest VmRSS seen so far, in KiB.
    public var peakKiB: Int { self.peak.withLock { $0 } }

    public func stop() -> Int {
        self.task.cancel()
        return self.peakKiB
    }
}
