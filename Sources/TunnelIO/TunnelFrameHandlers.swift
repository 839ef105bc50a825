import Logging
import NIOCore
import NIOWebSocket

extension ChannelPipeline.SynchronousOperations {
    /// Makes an upgraded WebSocket channel (frame decoder and encoder in place) a tunnel: adds,
    /// in this order,
    /// - NIO's `IdleStateHandler` (write idle), when `configuration.keepaliveInterval` is set: its
    ///   event makes `ChunkFrameHandler` send an empty chunk;
    /// - NIO's `NIOWebSocketFrameAggregator`, which assembles fragmented messages up to
    ///   `maximumMessageSize` bytes and `maximumFragmentCount` fragments, and passes unfragmented
    ///   frames through untouched (the data path's fast path);
    /// - `ChunkFrameHandler`, which speaks chunks from there on.
    /// Relay and gateway both call this once the upgrade is done.
    public func addTunnelFrameHandlers(_ configuration: ChunkFrameHandler.Configuration, logger: Logger) throws {
        if let keepalive = configuration.keepaliveInterval {
            try self.addHandler(IdleStateHandler(writeTimeout: keepalive))
        }
        try self.addHandler(
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0,
                maxAccumulatedFrameCount: configuration.maximumFragmentCount,
                maxAccumulatedFrameSize: configuration.maximumMessageSize
            )
        )
        try self.addHandler(ChunkFrameHandler(configuration: configuration, logger: logger))
    }
}
