import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Name resolution for the relay's connections to its one gateway.
///
/// Every tunnel is a new connection to the same host, and NIO's default resolver runs a
/// blocking `getaddrinfo` on a separate thread for each, even for an IP address: a thread hop
/// and often a file read (`/etc/hosts`) on the critical path of every CONNECT. This resolver
/// answers IP literals at once and keeps a host name's answer for `timeToLive`, so only the
/// first tunnel of each period pays for the lookup. NIO's Happy Eyeballs connector still gets
/// both address families, in `getaddrinfo`'s order, and still falls back between them.
final class GatewayResolver: Sendable {
    struct Addresses: Sendable {
        var v4: [SocketAddress]
        var v6: [SocketAddress]
    }

    private struct Entry {
        var addresses: Addresses
        var expires: NIODeadline
    }

    let timeToLive: TimeAmount
    private let cache = NIOLockedValueBox<[String: Entry]>([:])
    private let lookUp: @Sendable (_ host: String, _ port: Int) throws -> Addresses

    /// `lookUp` is the blocking lookup (tests count its calls).
    init(timeToLive: TimeAmount = .seconds(30), lookUp: @escaping @Sendable (_ host: String, _ port: Int) throws -> Addresses = GatewayResolver.lookUp) {
        self.timeToLive = timeToLive
        self.lookUp = lookUp
    }

    /// The `Resolver` NIO's `ClientBootstrap` asks for one connection attempt.
    func resolver(on eventLoop: EventLoop) -> some Resolver & Sendable {
        Lookup(cache: self, eventLoop: eventLoop)
    }

    func addresses(host: String, port: Int, on eventLoop: EventLoop) -> EventLoopFuture<Addresses> {
        if let literal = try? SocketAddress(ipAddress: host, port: port) {
            let addresses = literal.protocol == .inet ? Addresses(v4: [literal], v6: []) : Addresses(v4: [], v6: [literal])
            return eventLoop.makeSucceededFuture(addresses)
        }
        let key = "\(host):\(port)"
        let now = NIODeadline.now()
        if let entry = self.cache.withLockedValue({ $0[key] }), entry.expires > now {
            return eventLoop.makeSucceededFuture(entry.addresses)
        }
        let (timeToLive, lookUp) = (self.timeToLive, self.lookUp)
        return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
            try lookUp(host, port)
        }.map { addresses in
            if !addresses.v4.isEmpty || !addresses.v6.isEmpty {
                self.cache.withLockedValue { $0[key] = Entry(addresses: addresses, expires: .now() + timeToLive) }
            }
            return addresses
        }
    }

    /// Forgets every answer (tests; or when the gateway may have moved).
    func flush() {
        self.cache.withLockedValue { $0.removeAll() }
    }

    /// `getaddrinfo`, TCP, both families, in the system's preference order. Blocking: run it
    /// off the event loop.
    @Sendable static func lookUp(host: String, port: Int) throws -> Addresses {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        hints.ai_protocol = CInt(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw GatewayResolverError(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var result = Addresses(v4: [], v6: [])
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            if let address = info.pointee.ai_addr {
                switch info.pointee.ai_family {
                case AF_INET:
                    result.v4.append(SocketAddress(UnsafeRawPointer(address).load(as: sockaddr_in.self), host: host))
                case AF_INET6:
                    result.v6.append(SocketAddress(UnsafeRawPointer(address).load(as: sockaddr_in6.self), host: host))
                default:
                    break
                }
            }
            entry = info.pointee.ai_next
        }
        return result
    }

    /// One connection attempt's queries: Happy Eyeballs asks for AAAA and A in turn on the
    /// attempt's event loop; both share one lookup.
    private final class Lookup: Resolver, @unchecked Sendable {
        // @unchecked: `pending` is only touched on `eventLoop`, where NIO calls the queries.
        let cache: GatewayResolver
        let eventLoop: EventLoop
        private var pending: EventLoopFuture<Addresses>?

        init(cache: GatewayResolver, eventLoop: EventLoop) {
            self.cache = cache
            self.eventLoop = eventLoop
        }

        private func addresses(host: String, port: Int) -> EventLoopFuture<Addresses> {
            self.eventLoop.preconditionInEventLoop()
            if let pending = self.pending { return pending }
            let lookup = self.cache.addresses(host: host, port: port, on: self.eventLoop)
            self.pending = lookup
            return lookup
        }

        func initiateAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            self.addresses(host: host, port: port).map(\.v4)
        }

        func initiateAAAAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            self.addresses(host: host, port: port).map(\.v6)
        }

        func cancelQueries() {}
    }
}

struct GatewayResolverError: Error, CustomStringConvertible {
    var host: String
    var reason: String

    var description: String { "cannot resolve \(self.host): \(self.reason)" }
}
