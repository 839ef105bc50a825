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

/// Name resolution for the tunnels' outbound connections (relay → gateway, gateway → target).
///
/// NIO's default resolver runs a blocking `getaddrinfo` on a separate thread for every
/// connect, even for an IP address: a thread hop, and often a file read (`/etc/hosts`), on the
/// critical path of every CONNECT. This resolver answers IP literals at once and can keep a
/// host name's answer for `timeToLive`: the relay, whose every tunnel goes to the same gateway,
/// keeps it 30 s; the gateway, dialling whatever targets clients ask for, keeps nothing
/// (`.zero`). NIO's Happy Eyeballs connector still gets both address families, in
/// `getaddrinfo`'s order, and still falls back between them.
public final class CachingResolver: Sendable {
    public struct Addresses: Sendable {
        public var v4: [SocketAddress]
        public var v6: [SocketAddress]

        public init(v4: [SocketAddress], v6: [SocketAddress]) {
            self.v4 = v4
            self.v6 = v6
        }
    }

    private struct Entry {
        var addresses: Addresses
        var expires: NIODeadline
    }

    public let timeToLive: TimeAmount
    private let cache = NIOLockedValueBox<[String: Entry]>([:])
    private let lookUp: @Sendable (_ host: String, _ port: Int) throws -> Addresses

    /// `lookUp` is the blocking lookup (tests count its calls).
    public init(timeToLive: TimeAmount, lookUp: @escaping @Sendable (_ host: String, _ port: Int) throws -> Addresses = CachingResolver.lookUp) {
        self.timeToLive = timeToLive
        self.lookUp = lookUp
    }

    /// The `Resolver` NIO's `ClientBootstrap` asks for one connection attempt.
    public func resolver(on eventLoop: EventLoop) -> some Resolver & Sendable {
        Lookup(cache: self, eventLoop: eventLoop)
    }

    public func addresses(host: String, port: Int, on eventLoop: EventLoop) -> EventLoopFuture<Addresses> {
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
            if timeToLive > .zero, !addresses.v4.isEmpty || !addresses.v6.isEmpty {
                self.cache.withLockedValue { $0[key] = Entry(addresses: addresses, expires: .now() + timeToLive) }
            }
            return addresses
        }
    }

    /// Forgets every answer (tests; or when the gateway may have moved).
    public func flush() {
        self.cache.withLockedValue { $0.removeAll() }
    }

    /// `getaddrinfo`, TCP, both families, in the system's preference order. Blocking: run it
    /// off the event loop.
    @Sendable public static func lookUp(host: String, port: Int) throws -> Addresses {
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
            throw ResolverError(host: host, reason: String(cString: gai_strerror(status)))
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
        let cache: CachingResolver
        let eventLoop: EventLoop
        private var pending: EventLoopFuture<Addresses>?

        init(cache: CachingResolver, eventLoop: EventLoop) {
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

public struct ResolverError: Error, CustomStringConvertible {
    public var host: String
    public var reason: String

    public init(host: String, reason: String) {
        self.host = host
        self.reason = reason
    }

    public var description: String { "cannot resolve \(self.host): \(self.reason)" }
}
