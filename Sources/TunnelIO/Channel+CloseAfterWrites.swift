import NIOCore

extension Channel {
    /// Ends one side of a tunnel without losing what is queued for it: `close(mode: .output)`
    /// waits for the pending writes and sends EOF (a plain close would drop them), then the full
    /// close releases the socket. Where half-closure is refused, the full close follows at once.
    public func closeAfterPendingWrites() {
        let outputClosed = self.eventLoop.makePromise(of: Void.self)
        self.close(mode: .output, promise: outputClosed)
        outputClosed.futureResult.whenComplete { _ in self.close(promise: nil) }
    }
}
