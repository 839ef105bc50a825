import Foundation
import Testing
import TestSupport

/// SPEC §6.9, shown: a slow side pauses reading on the other side, so the relay's memory does
/// not follow the size of the transfer. relay-init runs as its own process; its VmRSS is sampled
/// every 10 ms from /proc while a side stalls and until the transfer has completed. The
/// reference gateway (SPEC §7: "backpressure both ways") is held to the same bound: were it to
/// buffer, the relay's figure would look good only because the gateway took the bytes.
///
/// 256 MiB each way when an optimised build is available (``Products/optimised``: run
/// `swift build -c release` first, or set RELIABILITY_PRODUCTS). A debug build masks WebSocket
/// payloads a byte at a time (about 6 MB/s), so without one the upload is 40 MiB: still more
/// than the bound, so a relay that buffered the upload would still fail. `bench/soak` runs both
/// at 256 MiB against the release build.
@Suite(.serialized, .tags(.memory), .timeLimit(.minutes(TestTime.minutes(3))))
struct BoundedMemoryTests {
    /// The relay's RSS may grow by less than this over the whole transfer.
    static let boundKiB = 32 * 1024
    static let products = Products.preferOptimised
    static let downloadSize = 256 << 20
    static let uploadSize = products.isOptimised ? 256 << 20 : 40 << 20

    /// A client asks for 256 MiB and reads nothing: once the target is held back, the relay has
    /// grown by less than 32 MiB; then the client reads, and every byte arrives in order.
    @Test func clientThatStopsReadingKeepsTheRelaySmall() async throws {
        let total = Self.downloadSize
        let target = try await StreamTarget.start(.send(total: total))
        do {
            try await StackBed.with(gatewayArguments: ["--map-host", "stream.test=127.0.0.1"], products: Self.products) { bed in
                let proc = bed.relay.proc
                let before = try await settledValue("relay-init's RSS before the transfer") { proc.residentKiB }
                let gatewayBefore = try await settledValue("relay-gateway's RSS before the transfer") { bed.gateway.proc.residentKiB }
                let sampler = PeakResidentSampler(pid: bed.relay.process.pid)
                let gatewaySampler = PeakResidentSampler(pid: bed.gateway.pid)
                let client = try await StreamClient.connect(relayPort: bed.port, target: "stream.test:\(target.port)", mode: .receivePaused)
                let heldAfter: Int
                do {
                    heldAfter = try await waitForBackpressure(target.progress, total: total)
                    try await expectStillHeldBack(target.progress, at: heldAfter)
                } catch {
                    Issue.record("relay-init's RSS: \(before) KiB before, peak \(sampler.stop()) KiB; relay-gateway's: \(gatewayBefore) KiB before, peak \(gatewaySampler.stop()) KiB")
                    throw error
                }
                let peakHeld = sampler.peakKiB
                #expect(client.progress.current.responseHead == ConnectTunnel.established)

                try await client.resumeReading()
                try await client.progress.wait("the whole download", timeout: .seconds(120)) { $0.closed }
                let peak = sampler.stop()
                let gatewayPeak = gatewaySampler.stop()
                let received = client.progress.current
                #expect(received.bytes == total, "\(received.bytes) of \(total) bytes arrived")
                #expect(received.mismatchAt == nil, "the stream differs from byte \(received.mismatchAt ?? -1)")
                #expect(peak - before < Self.boundKiB, "relay-init grew by \(peak - before) KiB (bound \(Self.boundKiB) KiB)")
                #expect(gatewayPeak - gatewayBefore < Self.boundKiB, "relay-gateway grew by \(gatewayPeak - gatewayBefore) KiB (bound \(Self.boundKiB) KiB)")
                print("""
                    bounded memory, download (\(Self.products)): \(total >> 20) MiB, target held back after \
                    \(heldAfter >> 20) MiB; relay-init RSS before \(before) KiB, peak while held \(peakHeld) KiB, \
                    peak overall \(peak) KiB (+\(peak - before) KiB); relay-gateway RSS before \(gatewayBefore) KiB, \
                    peak \(gatewayPeak) KiB (+\(gatewayPeak - gatewayBefore) KiB)
                    """)
                await client.close()
            }
        } catch {
            await target.shutdown()
            throw error
        }
        await target.shutdown()
    }

    /// A client uploads 256 MiB to a target that reads nothing: once the client is held back the
    /// relay has grown by less than 32 MiB; then the target reads, and every byte arrives in order.
    @Test func targetThatStopsReadingKeepsTheRelaySmall() async throws {
        let total = Self.uploadSize
        let target = try await StreamTarget.start(.receivePaused)
        do {
            try await StackBed.with(gatewayArguments: ["--map-host", "stream.test=127.0.0.1"], products: Self.products) { bed in
                let proc = bed.relay.proc
                let before = try await settledValue("relay-init's RSS before the transfer") { proc.residentKiB }
                let gatewayBefore = try await settledValue("relay-gateway's RSS before the transfer") { bed.gateway.proc.residentKiB }
                let sampler = PeakResidentSampler(pid: bed.relay.process.pid)
                let gatewaySampler = PeakResidentSampler(pid: bed.gateway.pid)
                let client = try await StreamClient.connect(relayPort: bed.port, target: "stream.test:\(target.port)", mode: .send(total: total))
                let heldAfter: Int
                do {
                    heldAfter = try await waitForBackpressure(client.progress, total: total)
                    try await expectStillHeldBack(client.progress, at: heldAfter)
                } catch {
                    Issue.record("relay-init's RSS: \(before) KiB before, peak \(sampler.stop()) KiB; relay-gateway's: \(gatewayBefore) KiB before, peak \(gatewaySampler.stop()) KiB")
                    throw error
                }
                let peakHeld = sampler.peakKiB
                #expect(client.progress.current.responseHead == ConnectTunnel.established)
                #expect(target.progress.current.bytes == 0, "the target read although it was paused")

                try await target.resumeReading()
                try await target.progress.wait("the whole upload", timeout: .seconds(120)) { $0.closed }
                let peak = sampler.stop()
                let gatewayPeak = gatewaySampler.stop()
                let received = target.progress.current
                #expect(received.bytes == total, "\(received.bytes) of \(total) bytes arrived")
                #expect(received.mismatchAt == nil, "the stream differs from byte \(received.mismatchAt ?? -1)")
                #expect(peak - before < Self.boundKiB, "relay-init grew by \(peak - before) KiB (bound \(Self.boundKiB) KiB)")
                #expect(gatewayPeak - gatewayBefore < Self.boundKiB, "relay-gateway grew by \(gatewayPeak - gatewayBefore) KiB (bound \(Self.boundKiB) KiB)")
                print("""
                    bounded memory, upload (\(Self.products)): \(total >> 20) MiB, client held back after \
                    \(heldAfter >> 20) MiB; relay-init RSS before \(before) KiB, peak while held \(peakHeld) KiB, \
                    peak overall \(peak) KiB (+\(peak - before) KiB); relay-gateway RSS before \(gatewayBefore) KiB, \
                    peak \(gatewayPeak) KiB (+\(gatewayPeak - gatewayBefore) KiB)
                    """)
                await client.close()
            }
        } catch {
            await target.shutdown()
            throw error
        }
        await target.shutdown()
    }
}
