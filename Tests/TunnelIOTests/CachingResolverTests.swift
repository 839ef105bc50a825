import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import TunnelIO

@Suite struct CachingResolverTests {
    private let loop = MultiThreadedEventLoopGroup.singleton.next()

    @Test func ipLiteralsAreAnsweredWithoutALookup() async throws {
        let calls = NIOLockedValueBox(0)
        let resolver = CachingResolver(timeToLive: .seconds(30)) { _, _ in
            calls.withLockedValue { $0 += 1 }
            return .init(v4: [], v6: [])
        }
        let v4 = try await resolver.addresses(host: "127.0.0.1", port: 8443, on: self.loop).get()
        #expect(v4.v4 == [try SocketAddress(ipAddress: "127.0.0.1", port: 8443)] && v4.v6.isEmpty)
        let v6 = try await resolver.addresses(host: "::1", port: 8443, on: self.loop).get()
        #expect(v6.v6 == [try SocketAddress(ipAddress: "::1", port: 8443)] && v6.v4.isEmpty)
        #expect(calls.withLockedValue { $0 } == 0)
    }

    @Test func aNameIsLookedUpOnceUntilItsAnswerExpires() async throws {
        let lookups = NIOLockedValueBox<[String]>([])
        let answer = CachingResolver.Addresses(v4: [try SocketAddress(ipAddress: "192.0.2.7", port: 443)], v6: [])
        let resolver = CachingResolver(timeToLive: .hours(1)) { host, port in
            lookups.withLockedValue { $0.append("\(host):\(port)") }
            return answer
        }
        for _ in 0..<5 {
            let addresses = try await resolver.addresses(host: "gw.example", port: 443, on: self.loop).get()
            #expect(addresses.v4 == answer.v4)
        }
        #expect(lookups.withLockedValue { $0 } == ["gw.example:443"])
        // Another port is another entry.
        _ = try await resolver.addresses(host: "gw.example", port: 8443, on: self.loop).get()
        #expect(lookups.withLockedValue { $0 } == ["gw.example:443", "gw.example:8443"])
        resolver.flush()
        _ = try await resolver.addresses(host: "gw.example", port: 443, on: self.loop).get()
        #expect(lookups.withLockedValue { $0 }.count == 3)

        // An answer older than its time to live is looked up again.
        let shortLived = CachingResolver(timeToLive: .zero) { host, port in
            lookups.withLockedValue { $0.append("\(host):\(port)") }
            return answer
        }
        _ = try await shortLived.addresses(host: "gw.example", port: 443, on: self.loop).get()
        _ = try await shortLived.addresses(host: "gw.example", port: 443, on: self.loop).get()
        #expect(lookups.withLockedValue { $0 }.count == 5)
    }

    @Test func failuresAreNotCached() async throws {
        let calls = NIOLockedValueBox(0)
        let resolver = CachingResolver(timeToLive: .seconds(30)) { host, _ in
            calls.withLockedValue { $0 += 1 }
            throw ResolverError(host: host, reason: "no such host")
        }
        for _ in 0..<2 {
            await #expect(throws: ResolverError.self) {
                try await resolver.addresses(host: "nowhere.invalid", port: 1, on: self.loop).get()
            }
        }
        #expect(calls.withLockedValue { $0 } == 2)
    }

    @Test func theSystemLookupFindsLocalhost() throws {
        let addresses = try CachingResolver.lookUp(host: "localhost", port: 80)
        #expect(!(addresses.v4 + addresses.v6).isEmpty)
        #expect((addresses.v4 + addresses.v6).allSatisfy { $0.port == 80 })
        #expect(throws: ResolverError.self) { try CachingResolver.lookUp(host: "no-such-host.invalid", port: 80) }
    }
}
