import NIOConcurrencyHelpers
import NIOCore

/// The relay's open client connections (tunnels and connections still sending their head), so
/// that shutdown can find them and a tunnel's log line is written as its connection closes.
final class RelayConnections: Sendable {
    private struct Entry {
        var channel: Channel
        var onClose: (@Sendable () -> Void)?
    }

    private struct State {
        var channels: [ObjectIdentifier: Entry] = [:]
        var emptyWaiters: [EventLoopPromise<Void>] = []
        /// Counts the times the registry became empty, so a trim scheduled for an earlier
        /// quiet moment can tell that tunnels came and went since.
        var emptyGeneration = 0
    }

    private let state = NIOLockedValueBox(State())

    /// How long the relay must stay without connections before freed memory is handed back.
    static let trimDelay = TimeAmount.seconds(1)

    func add(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        self.state.withLockedValue { $0.channels[id] = Entry(channel: channel) }
        channel.closeFuture.whenComplete { _ in
            // The hook first: whoever waits for the registry (shutdown, then the exit summary)
            // must find what it records done.
            let hook = self.state.withLockedValue { $0.channels[id]?.onClose }
            hook?()
            let (waiters, generation) = self.state.withLockedValue { state -> ([EventLoopPromise<Void>], Int?) in
                state.channels[id] = nil
                guard state.channels.isEmpty else { return ([], nil) }
                state.emptyGeneration += 1
                defer { state.emptyWaiters = [] }
                return (state.emptyWaiters, state.emptyGeneration)
            }
            waiters.forEach { $0.succeed(()) }
            if let generation {
                self.trimIfStillQuiet(generation: generation, on: channel.eventLoop)
            }
        }
    }

    /// Runs `body` on the channel's event loop when it closes, before the registry lets go of it.
    func onClose(of channel: Channel, _ body: @escaping @Sendable () -> Void) {
        self.state.withLockedValue { $0.channels[ObjectIdentifier(channel)]?.onClose = body }
    }

    /// The last connection closed: if none opens within `trimDelay`, return freed memory.
    private func trimIfStillQuiet(generation: Int, on eventLoop: EventLoop) {
        eventLoop.scheduleTask(in: Self.trimDelay) {
            let quiet = self.state.withLockedValue { $0.channels.isEmpty && $0.emptyGeneration == generation }
            if quiet { MemoryTrim.releaseFreeMemory() }
        }
    }

    var count: Int { self.state.withLockedValue { $0.channels.count } }
    var all: [Channel] { self.state.withLockedValue { $0.channels.values.map(\.channel) } }

    func waitUntilEmpty(timeout: TimeAmount, on eventLoop: EventLoop) async {
        let promise = eventLoop.makePromise(of: Void.self)
        let empty = self.state.withLockedValue { state -> Bool in
            if state.channels.isEmpty { return true }
            state.emptyWaiters.append(promise)
            return false
        }
        if empty { promise.succeed(()) }
        let timer = eventLoop.scheduleTask(in: timeout) { promise.succeed(()) }
        try? await promise.futureResult.get()
        timer.cancel()
    }
}
