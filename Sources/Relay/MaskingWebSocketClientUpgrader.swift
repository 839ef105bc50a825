import NIOCore
import TunnelIO
import NIOHTTP1
import NIOWebSocket

/// NIO's typed WebSocket client upgrader with one difference: the pipeline it builds encodes
/// frames with `MaskingFrameEncoder` instead of NIO's `WebSocketFrameEncoder` (which cannot be
/// removed afterwards). The request key, the request headers and the check of the server's
/// `Sec-WebSocket-Accept` are NIO's own.
struct MaskingWebSocketClientUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPClientProtocolUpgrader {
    private let handshake: NIOTypedWebSocketClientUpgrader<UpgradeResult>
    private let maxFrameSize: Int
    private let upgradePipelineHandler: @Sendable (Channel, HTTPResponseHead) -> EventLoopFuture<UpgradeResult>

    init(
        maxFrameSize: Int,
        upgradePipelineHandler: @escaping @Sendable (Channel, HTTPResponseHead) -> EventLoopFuture<UpgradeResult>
    ) {
        self.handshake = NIOTypedWebSocketClientUpgrader(
            maxFrameSize: maxFrameSize,
            enableAutomaticErrorHandling: false,
            upgradePipelineHandler: upgradePipelineHandler
        )
        self.maxFrameSize = maxFrameSize
        self.upgradePipelineHandler = upgradePipelineHandler
    }

    var supportedProtocol: String { self.handshake.supportedProtocol }
    var requiredUpgradeHeaders: [String] { self.handshake.requiredUpgradeHeaders }

    func addCustom(upgradeRequestHeaders: inout HTTPHeaders) {
        self.handshake.addCustom(upgradeRequestHeaders: &upgradeRequestHeaders)
    }

    func shouldAllowUpgrade(upgradeResponse: HTTPResponseHead) -> Bool {
        self.handshake.shouldAllowUpgrade(upgradeResponse: upgradeResponse)
    }

    func upgrade(channel: Channel, upgradeResponse: HTTPResponseHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(MaskingFrameEncoder())
            try pipeline.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: self.maxFrameSize)))
        }.flatMap {
            self.upgradePipelineHandler(channel, upgradeResponse)
        }
    }
}
