import Foundation
import NIOCore

/// The gateway's open client connections (HTTP or WebSocket) and how many tunnels each session
/// holds. Connections live on different event loops, hence the lock.
final class GatewayConnections: @unchecked Sendable {
    private enum Phase {
        case accepting
        /// `shutdown` began: connections accepted from now on are closed at once.
        case shuttingDown
    }

    private let lock = NSLock()
    // All guarded by `lock`.
    private var phase = Phase.accepting
    private var connections: [ObjectIdentifier: Channel] = [:]
    private var tunnelsPerSession: [String: Int] = [:]

    /// Adds an accepted connection; it removes itself when it closes. During shutdown the
    /// connection is closed instead.
    func register(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        let accepted = self.withLock { () -> Bool in
            guard case .accepting = self.phase else { return false }
            self.connections[id] = channel
            return true
        }
        guard accepted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { _ in
            self.withLock { _ = self.connections.removeValue(forKey: id) }
        }
    }

    /// Counts `channel` as one of `session`'s tunnels if the session is below `limit`; the slot
    /// is given back when the channel closes (so an upgrade that fails half-way cannot leak it).
    func admitTunnel(on channel: Channel, session: String, limit: Int) -> Bool {
        let admitted = self.withLock { () -> Bool in
            let open = self.tunnelsPerSession[session, default: 0]
            guard open < limit else { return false }
            self.tunnelsPerSession[session] = open + 1
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { _ in
                self.withLock {
                    let remaining = self.tunnelsPerSession[session, default: 1] - 1
                    self.tunnelsPerSession[session] = remaining > 0 ? remaining : nil
                }
            }
        }
        return admitted
    }

    /// Tunnels open (or being upgraded) for `session`.
    func openTunnels(session: String) -> Int {
        self.withLock { self.tunnelsPerSession[session, default: 0] }
    }

    /// Closes every connection (a WebSocket says goodbye with a close frame first) and waits for
    /// them to close, at most `gracePeriod`: a peer that stopped reading could otherwise hold
    /// the close frame's write, and the shutdown, forever.
    func closeAll(gracePeriod: TimeAmount) async {
        let channels = self.withLock { () -> [Channel] in
            self.phase = .shuttingDown
            return Array(self.connections.values)
        }
        guard let eventLoop = channels.first?.eventLoop else { return }
        let closed = channels.map { channel in
            // Tells a tunnel why it is closing, for its log line; both run in order on its loop.
            channel.pipeline.fireUserInboundEventTriggered(GatewayShutdownEvent())
            channel.close(promise: nil)
            return channel.closeFuture
        }
        // Whichever comes first: every connection closed, or the grace period over.
        let done = eventLoop.makePromise(of: Void.self)
        EventLoopFuture.andAllComplete(closed, on: eventLoop).cascade(to: done)
        let deadline = eventLoop.scheduleTask(in: gracePeriod) { done.succeed(()) }
        try? await done.futureResult.get()
        deadline.cancel()
    }

    private func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        self.lock.lock()
        defer { self.lock.unlock() }
        return try body()
    }
}

/// Sent through every connection's pipeline just before the gateway closes it.
struct GatewayShutdownEvent: Sendable {}
