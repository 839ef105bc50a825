import Foundation
import Testing
import TestSupport

extension Tag {
    /// Many tunnels; the CI-sized version of `bench/soak`.
    @Tag static var load: Self
    /// Hundreds of MiB through the relay with one side stalled.
    @Tag static var memory: Self
}

/// Load and churn, CI-sized: `bench/soak` runs the same checks at full size (1,000 concurrent,
/// 20,000 short tunnels) against release builds.
@Suite(.serialized, .tags(.load), .timeLimit(.minutes(TestTime.minutes(2))))
struct LoadTests {
    static let concurrent = 200
    static let sequential = 500
    static let parallelWorkers = 20
    static let perWorker = 25
    /// RSS an open tunnel may cost the relay. Measured: about 45 KiB (debug), 40 KiB (release).
    static let rssPerOpenTunnelBoundKiB = 128
    /// RSS growth allowed over the churn, against the relay right after the concurrent tunnels
    /// closed (the allocator keeps what 200 open tunnels needed; that is not growth). Measured:
    /// 0. A leak of even 4 KiB per tunnel would exceed it.
    static let rssChurnGrowthBoundKiB = 4 * 1024
    /// The NIO event loops are fixed; libdispatch workers come and go (measured: 4 to 8 threads).
    static let threadSlack = 4

    /// Tunnels held open together: each costs the relay exactly two descriptors (client and
    /// WebSocket) and the gateway two (WebSocket and target); closing them gives every one back.
    /// Then 1,000 short tunnels, in sequence and from 20 workers: afterwards both processes have
    /// their baseline descriptors, relay-init has no extra threads, and its RSS has not grown.
    /// Runs the optimised products when they are fresh (``Products/preferOptimised``), the debug
    /// ones otherwise. (CI-sized: debug builds open about 80 tunnels/s here. `bench/soak` does
    /// 1,000 + 20,000.)
    @Test func concurrentAndShortTunnelsLeaveNoResidue() async throws {
        try await StackBed.with(products: .preferOptimised) { bed in
            let relay = bed.relay.proc
            let gateway = bed.gateway.proc
            let threads = try #require(relay.threads)
            let rss = try await settledValue("relay-init's idle RSS") { relay.residentKiB }

            // 1. Concurrent tunnels, each proven with an echo round trip while all are open.
            let clients = try await withThrowingTaskGroup(of: RawTCPClient.self) { group in
                for index in 0..<Self.concurrent {
                    group.addTask { try await Self.openEchoTunnel(relayPort: bed.port, target: bed.echoTarget, index: index) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let relayFDsOpen = try await settledValue("relay-init's descriptors with \(Self.concurrent) tunnels") { relay.openFDs }
            let gatewayFDsOpen = try await settledValue("relay-gateway's descriptors with \(Self.concurrent) tunnels") { gateway.openFDs }
            #expect(relayFDsOpen == bed.baseline.relayFDs + 2 * Self.concurrent, "relay-init: \(relayFDsOpen) descriptors with \(Self.concurrent) tunnels, baseline \(bed.baseline.relayFDs)")
            #expect(gatewayFDsOpen == bed.baseline.gatewayFDs + 2 * Self.concurrent, "relay-gateway: \(gatewayFDsOpen) descriptors with \(Self.concurrent) tunnels, baseline \(bed.baseline.gatewayFDs)")
            let rssOpen = relay.residentKiB ?? 0
            let threadsOpen = try #require(relay.threads)
            #expect(threadsOpen <= threads + Self.threadSlack, "relay-init has \(threadsOpen) threads with \(Self.concurrent) tunnels open, \(threads) idle")
            #expect((rssOpen - rss) / Self.concurrent <= Self.rssPerOpenTunnelBoundKiB, "relay-init: \((rssOpen - rss) / Self.concurrent) KiB RSS per open tunnel")
            for client in clients { await client.close() }
            try await bed.relay.waitForFDs(bed.baseline.relayFDs, "closing \(Self.concurrent) tunnels")
            try await bed.waitForGatewayFDs(bed.baseline.gatewayFDs, "closing \(Self.concurrent) tunnels")
            let rssClosed = try await settledValue("relay-init's RSS after closing the tunnels") { relay.residentKiB }

            // 2. Short tunnels, one after another, then from parallel workers.
            let clock = ContinuousClock()
            let sequentialStart = clock.now
            for index in 0..<Self.sequential {
                let client = try await Self.openEchoTunnel(relayPort: bed.port, target: bed.echoTarget, index: index)
                await client.close()
            }
            let sequentialTime = clock.now - sequentialStart
            let parallelStart = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<Self.parallelWorkers {
                    group.addTask {
                        for round in 0..<Self.perWorker {
                            let client = try await Self.openEchoTunnel(relayPort: bed.port, target: bed.echoTarget, index: worker * 1000 + round)
                            await client.close()
                        }
                    }
                }
                try await group.waitForAll()
            }
            let parallelTime = clock.now - parallelStart
            try await bed.relay.waitForFDs(bed.baseline.relayFDs, "\(Self.sequential + Self.parallelWorkers * Self.perWorker) short tunnels")
            try await bed.waitForGatewayFDs(bed.baseline.gatewayFDs, "\(Self.sequential + Self.parallelWorkers * Self.perWorker) short tunnels")
            let threadsAfter = try #require(relay.threads)
            #expect(threadsAfter <= threads + Self.threadSlack, "relay-init has \(threadsAfter) threads after the churn, \(threads) before")
            let rssAfter = try await settledValue("relay-init's RSS after the churn") { relay.residentKiB }
            #expect(rssAfter - rssClosed < Self.rssChurnGrowthBoundKiB, "relay-init's RSS grew by \(rssAfter - rssClosed) KiB over the churn (bound \(Self.rssChurnGrowthBoundKiB) KiB)")
            print("""
                load figures (\(Products.preferOptimised)): relay-init idle fds=\(bed.baseline.relayFDs) rss=\(rss)KiB threads=\(threads); \
                \(Self.concurrent) open: fds=\(relayFDsOpen) rss=\(rssOpen)KiB closed rss=\(rssClosed)KiB (gateway fds=\(gatewayFDsOpen)); \
                after \(Self.sequential) sequential (\(sequentialTime)) + \(Self.parallelWorkers)x\(Self.perWorker) parallel (\(parallelTime)): \
                \(relay.summary), churn RSS growth \(rssAfter - rssClosed) KiB; CPU s relay=\(relay.cpuSeconds) gateway=\(gateway.cpuSeconds)
                """)
        }
    }

    static func openEchoTunnel(relayPort: Int, target: String, index: Int) async throws -> RawTCPClient {
        try await ConnectTunnel.openEcho(relayPort: relayPort, target: target, "tunnel \(index)")
    }
}
