import NIOCore

/// Buffer sizes of the data path, relay and gateway alike, in one place so the benchmarks can
/// find them.
public enum TunnelTuning {
    /// A tunnel stops reading from one side while the other has more than this queued.
    /// Memory per tunnel is about two of these plus one read buffer per direction.
    public static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 128 * 1024, high: 256 * 1024)

    /// Large reads mean fewer chunks, frames and syscalls per byte. The allocator starts small
    /// because each channel keeps its last receive buffer for reuse (NIO's pooled receive
    /// buffers): an idle tunnel holds two of them. A read that fills the buffer grows the next
    /// one sixteenfold, so a bulk transfer reaches 256 KiB reads on its third read.
    public static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 2048, initial: 2048, maximum: 256 * 1024)
}
