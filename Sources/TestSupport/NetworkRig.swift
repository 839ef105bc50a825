import Foundation

/// Three hosts in network namespaces, built by `scripts/netns.sh` (the one place that knows how,
/// shared with the bench): `target` for the test targets, `gateway` for relay-gateway (with a
/// route to the target), and `workload` for relay-init and its clients, linked to the gateway
/// only: no default route, no route to the target, no DNS server. The workload ↔ gateway link
/// can carry delay, jitter and loss, and can be taken down.
///
/// Use ``with(rtt:jitter:loss:_:)``: it removes the rig whether the body returns or throws. A
/// test process killed outright leaves its rig behind; the next `netns.sh up` removes it, since
/// each rig names this process as its owner.
public final class NetworkRig: Sendable {
    public enum Host: String, Sendable, CaseIterable {
        case workload, gateway, target
    }

    /// The rig's suffix (six hex digits), in every name it creates.
    public let id: String
    /// The gateway's address as the workload sees it.
    public let gatewayAddress: String
    /// The target's address as the gateway sees it (the workload has no route to it).
    public let targetAddress: String
    private let namespaces: [Host: String]

    private init(id: String, namespaces: [Host: String], gatewayAddress: String, targetAddress: String) {
        self.id = id
        self.namespaces = namespaces
        self.gatewayAddress = gatewayAddress
        self.targetAddress = targetAddress
    }

    /// `scripts/netns.sh` of this package.
    public static var script: String { Products.packageRoot + "/scripts/netns.sh" }

    /// What the rig needs: root, `ip` and `tc` (iproute2). Throws a ``HarnessError`` saying
    /// which is missing, so that a test fails with the reason instead of skipping.
    public static func checkRequirements() throws {
        guard geteuid() == 0 else {
            throw HarnessError("the network rig needs root (ip netns, veth pairs, tc); run the tests as root")
        }
        for tool in ["ip", "tc"] where Self.locate(tool) == nil {
            throw HarnessError("the network rig needs `\(tool)`: install iproute2 (scripts/install-deps.sh)")
        }
    }

    private static func locate(_ tool: String) -> String? {
        Tools.which(tool) ?? ["/usr/sbin", "/sbin"].map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Builds a rig (with `rtt`, `jitter` in milliseconds and `loss` in percent on the workload
    /// link, when given), runs `body`, and always removes the rig.
    ///
    /// Giving any of them (0 included) asks for a link that can be shaped later: on a kernel
    /// without netem, `netns.sh` then builds its user-space link.
    public static func with<T>(
        rtt: Double? = nil, jitter: Double? = nil, loss: Double? = nil,
        _ body: (NetworkRig) async throws -> T
    ) async throws -> T {
        try await withTeardown(of: try await Self.up(rtt: rtt, jitter: jitter, loss: loss), body) { await $0.down() }
    }

    /// `netns.sh up`, owned by this process.
    public static func up(rtt: Double? = nil, jitter: Double? = nil, loss: Double? = nil) async throws -> NetworkRig {
        try Self.checkRequirements()
        var arguments = ["up", "--owner", String(getpid())]
        arguments += Self.shapeOptions(rtt: rtt, jitter: jitter, loss: loss)
        let result = try await Self.script(arguments)
        let variables = Dictionary(
            result.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: "=", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            },
            uniquingKeysWith: { _, last in last }
        )
        guard let id = variables["RIG_ID"], let workload = variables["RIG_WORKLOAD"], let gateway = variables["RIG_GATEWAY"],
              let target = variables["RIG_TARGET"], let gatewayAddress = variables["RIG_GATEWAY_ADDR"],
              let targetAddress = variables["RIG_TARGET_ADDR"]
        else { throw HarnessError("netns.sh up printed no rig:\n\(result.stdout)\n\(result.stderr)") }
        return NetworkRig(
            id: id, namespaces: [.workload: workload, .gateway: gateway, .target: target],
            gatewayAddress: gatewayAddress, targetAddress: targetAddress
        )
    }

    /// `netns.sh down`: stops whatever still runs in the namespaces and removes them.
    public func down() async {
        _ = try? await Self.script(["down", self.id])
    }

    /// The network namespace of `host`.
    public func namespace(_ host: Host) -> String {
        self.namespaces[host]!
    }

    /// `ip netns exec NS`: the prefix that runs a command in `host` (it execs the command, so
    /// the process started is the command itself, pid and all).
    public func launcher(_ host: Host) -> [String] {
        ["ip", "netns", "exec", self.namespace(host)]
    }

    /// Runs `executable ARGUMENTS` in `host` to completion (see `TestProcess.run`).
    public func run(
        _ host: Host, _ executable: String, _ arguments: [String] = [],
        environment: [String: String]? = nil, timeout: Duration = .seconds(30)
    ) async throws -> ProcessResult {
        try await TestProcess.run(
            "ip", Array(self.launcher(host).dropFirst()) + [executable] + arguments,
            environment: environment ?? TestProcess.minimalEnvironment(), timeout: timeout
        )
    }

    /// Starts `executable ARGUMENTS` in `host` and returns at once (see `TestProcess.start`).
    public func start(
        _ host: Host, _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil
    ) throws -> RunningProcess {
        try TestProcess.start(
            "ip", Array(self.launcher(host).dropFirst()) + [executable] + arguments,
            environment: environment ?? TestProcess.minimalEnvironment()
        )
    }

    /// Takes the workload ↔ gateway link down (both ends) or brings it back up.
    public func link(up: Bool) async throws {
        try await Self.script(["link", self.id, up ? "up" : "down"])
    }

    /// Delay (`rtt` split evenly between the directions, likewise `jitter`, both in ms) and
    /// `loss` (percent, each direction) on the workload ↔ gateway link; all 0: a clean link.
    public func netem(rtt: Double = 0, jitter: Double = 0, loss: Double = 0) async throws {
        try await Self.script(["netem", self.id] + Self.shapeOptions(rtt: rtt, jitter: jitter, loss: loss))
    }

    private static func shapeOptions(rtt: Double?, jitter: Double?, loss: Double?) -> [String] {
        var options: [String] = []
        for (name, value) in [("--rtt", rtt), ("--jitter", jitter), ("--loss", loss)] {
            if let value { options += [name, String(format: "%g", value)] }
        }
        return options
    }

    /// Runs netns.sh and throws its output unless it exits 0.
    @discardableResult
    private static func script(_ arguments: [String]) async throws -> ProcessResult {
        // The test's own environment: netns.sh may need python3 (pyenv's shim needs HOME).
        let result = try await TestProcess.run(Self.script, arguments, environment: nil, timeout: .seconds(30))
        guard result.status == 0 else {
            throw HarnessError("netns.sh \(arguments.joined(separator: " ")) exited \(result.status):\n\(result.stderr)")
        }
        return result
    }
}
