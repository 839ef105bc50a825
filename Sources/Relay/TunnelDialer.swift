import NIOCore

/// How `ConnectHandler` opens a tunnel's WebSocket: the real `WebSocketConnector` in the relay,
/// a promise the test completes in the `EmbeddedChannel` tests of the handler's states.
struct TunnelDialer: Sendable {
    /// One WebSocket being opened: its channel once open (with `ChunkFrameHandler` in place), and
    /// a way to abandon it when the client leaves first.
    struct Dial {
        var future: EventLoopFuture<Channel>
        var cancel: () -> Void
    }

    /// Starts opening a WebSocket on the given event loop, the client channel's own: the glue
    /// needs both channels of a tunnel on one loop.
    var dial: @Sendable (_ eventLoop: EventLoop) -> Dial

    static func webSocket(_ connector: WebSocketConnector) -> TunnelDialer {
        TunnelDialer { eventLoop in
            let attempt = connector.connect(on: eventLoop)
            return Dial(future: attempt.future, cancel: attempt.cancel)
        }
    }
}
