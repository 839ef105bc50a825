import NIOCore
import NIOWebSocket

/// The frame encoder of the client (masking) side of a tunnel, in place of NIO's
/// `WebSocketFrameEncoder`. NIO's encoder masks the payload in place a byte at a time; the
/// frame still references the payload, so the mask first copies it (copy on write): two passes
/// over every byte, one of them slow. This encoder writes header, extension data and masked
/// payload into one new buffer in a single word-wide pass: the only copy is the mask the
/// protocol requires, and the frame leaves as one buffer (one iovec) instead of two or three.
/// Unmasked frames are written as they are, after a separate header buffer.
public final class MaskingFrameEncoder: ChannelOutboundHandler {
    public typealias OutboundIn = WebSocketFrame
    public typealias OutboundOut = ByteBuffer

    /// Two bytes, an eight-byte length and a four-byte masking key.
    private static let maximumHeaderLength = 14

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = Self.unwrapOutboundIn(data)
        let extensionLength = frame.extensionData?.readableBytes ?? 0
        let length = extensionLength + frame.data.readableBytes
        let payloadRoom = frame.maskKey == nil ? 0 : length
        var buffer = context.channel.allocator.buffer(capacity: Self.maximumHeaderLength + payloadRoom)

        var firstByte = UInt8(webSocketOpcode: frame.opcode)
        if frame.fin { firstByte |= 0x80 }
        if frame.rsv1 { firstByte |= 0x40 }
        if frame.rsv2 { firstByte |= 0x20 }
        if frame.rsv3 { firstByte |= 0x10 }
        let maskBit: UInt8 = frame.maskKey == nil ? 0 : 0x80
        buffer.writeInteger(firstByte)
        switch length {
        case 0...125:
            buffer.writeInteger(UInt8(length) | maskBit)
        case 126...0xFFFF:
            buffer.writeInteger(126 | maskBit)
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(127 | maskBit)
            buffer.writeInteger(UInt64(length))
        }

        guard let key = frame.maskKey else {
            context.write(Self.wrapOutboundOut(buffer), promise: nil)
            if let extensionData = frame.extensionData {
                context.write(Self.wrapOutboundOut(extensionData), promise: nil)
            }
            context.write(Self.wrapOutboundOut(frame.data), promise: promise)
            return
        }
        buffer.writeBytes(key)
        if let extensionData = frame.extensionData {
            buffer.writeWebSocketMasked(extensionData, key: key)
        }
        buffer.writeWebSocketMasked(frame.data, key: key, keyOffset: extensionLength)
        context.write(Self.wrapOutboundOut(buffer), promise: promise)
    }
}
