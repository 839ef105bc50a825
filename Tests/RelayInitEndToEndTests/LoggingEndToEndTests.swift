import Foundation
import Testing
import TestSupport

/// What relay-init writes to stderr, read the way people and log collectors read it.
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct LoggingEndToEndTests {
    @Test func textLogsHaveAStartLineAndASummaryLine() async throws {
        try await Stack.with { stack in
            let result = try await stack.runRelayInit(command: ["curl", "-sS", stack.targetURL("/hello")])
            #expect(result.status == 0, "\(stack.report(result))")
            let lines = result.stderr.split(separator: "\n").map(String.init)
            #expect(lines.first?.contains("relay listening on http://127.0.0.1:") == true, "\(stack.report(result))")
            #expect(lines.first?.contains("ws://127.0.0.1:\(stack.gatewayPort)/") == true, "the start line names the gateway: \(stack.report(result))")
            let expectedSummary = "exiting with status 0; relay: 1 tunnel, 0 errors, "
            #expect(lines.last?.contains(expectedSummary) == true, "\(stack.report(result))")
            // At the default level, no per-tunnel lines.
            #expect(!result.stderr.contains("tunnel closed"))
        }
    }

    @Test func jsonLogsAtDebugHaveOneLinePerTunnel() async throws {
        try await Stack.with { stack in
            let result = try await stack.runRelayInit(
                ["--log-format", "json", "--log-level", "debug"],
                command: ["sh", "-c", "curl -sS \"$1\" && exit 5", "sh", stack.targetURL("/hello")]
            )
            #expect(result.status == 5, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n")
            var objects: [[String: Any]] = []
            for line in result.stderr.split(separator: "\n") {
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)"
                )
                #expect(object["logger"] as? String == "relay-init")
                objects.append(object)
            }
            let tunnels = objects.filter { $0["message"] as? String == "tunnel closed" }
            #expect(tunnels.count == 1, "\(stack.report(result))")
            let tunnel = try #require(tunnels.first)
            #expect(tunnel["level"] as? String == "debug")
            #expect(tunnel["target"] as? String == "target.test:\(stack.target.port)")
            // curl and the target both close after the response, and relay-init stops the relay
            // as soon as curl has exited: whichever of the three is first ends the tunnel, and
            // none of them is an error.
            #expect(["client closed", "gateway closed", "relay stopped"].contains(tunnel["outcome"] as? String ?? ""), "\(tunnel)")
            let up = try #require(Int(tunnel["bytes_up"] as? String ?? ""))
            let down = try #require(Int(tunnel["bytes_down"] as? String ?? ""))
            // A TLS handshake and one HTTP exchange went through each way.
            #expect(up > 300 && down > 1000, "\(tunnel)")
            let last = try #require(objects.last)
            #expect(last["message"] as? String == "exiting with status 5; relay: 1 tunnel, 0 errors, \(up) bytes up, \(down) bytes down")
            #expect(!result.stderr.contains(stack.token))
        }
    }

    @Test func failOpenRunsStillEndWithTheExitLine() async throws {
        try await Stack.with { stack in
            let result = try await stack.runRelayInit(command: ["true"], environment: stack.environment(withToken: false))
            #expect(result.status == 0, "\(stack.report(result))")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.contains { $0.contains("warning") && $0.contains("proxy disabled") }, "\(stack.report(result))")
            #expect(lines.last?.hasSuffix("exiting with status 0") == true, "\(stack.report(result))")
        }
    }
}
