import NIOCore

/// Buffer sizes of the data path, in one place so the benchmarks can find them.
enum RelayTuning {
    /// A tunnel stops reading from one side while the other has more than this queued.
    /// Memory per tunnel is about two of these plus one read buffer per direction.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 128 * 1024, high: 256 * 1024)

    /// Large reads mean fewer chunks, frames and syscalls per byte; the allocator still starts
    /// small so that idle tunnels stay cheap.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 2048, initial: 16 * 1024, maximum: 256 * 1024)
}
