import Crypto
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves one HTTP/1.1 connection of ``HTTPSTarget``.
///
/// Sits behind `configureHTTPServerPipeline`, whose pipelining helper holds
/// back the next request until this handler has written `.end`, so the state
/// machine only ever deals with one request at a time.
final class TargetRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// Head seen; any body is discarded and the answer goes out at `.end`.
        case awaitingEnd(HTTPRequestHead, TargetRoute)
        /// `/sha256`: the body is hashed as it arrives, never stored.
        case hashing(HTTPRequestHead, SHA256, byteCount: Int)
        /// `/bytes/N`: writing piece by piece while the channel is writable.
        case streamingBytes(keepAlive: Bool, sent: Int, total: Int)
        /// `/static/…`: waiting for the file to be read on the thread pool.
        case loadingFile(HTTPRequestHead)
        case closed
    }

    private var state = State.idle
    /// Guards against re-entering the pump from `channelWritabilityChanged`,
    /// which NIO may fire from inside our own `writeAndFlush`.
    private var isPumping = false
    private let staticFiles: StaticFiles?
    private let threadPool: NIOThreadPool

    init(staticFiles: StaticFiles?, threadPool: NIOThreadPool = .singleton) {
        self.staticFiles = staticFiles
        self.threadPool = threadPool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            let route = TargetRoute(method: head.method, uri: head.uri)
            if route == .sha256 {
                if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                    // Without this curl waits a second before sending a large upload.
                    context.writeAndFlush(
                        wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                        promise: nil
                    )
                }
                state = .hashing(head, SHA256(), byteCount: 0)
            } else {
                state = .awaitingEnd(head, route)
            }

        case (.body(let buffer), .hashing(let head, var hasher, let byteCount)):
            buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            state = .hashing(head, hasher, byteCount: byteCount + buffer.readableBytes)

        case (.body, _):
            break  // a body nobody asked for: drop it

        case (.end, .hashing(let head, let hasher, let byteCount)):
            state = .idle
            respond(context: context, to: head, status: .ok, body: "\(hasher.finalize().hexString) \(byteCount)\n")

        case (.end, .awaitingEnd(let head, let route)):
            answer(context: context, head: head, route: route)

        case (.head, _), (.end, _):
            // Cannot happen behind the pipelining handler; refuse rather than guess.
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            pumpBytes(context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // TLS errors, resets, clients vanishing mid-download: all end this connection only.
        state = .closed
        context.close(promise: nil)
    }

    // MARK: - Routes

    private func answer(context: ChannelHandlerContext, head: HTTPRequestHead, route: TargetRoute) {
        state = .idle
        switch route {
        case .hello:
            respond(context: context, to: head, status: .ok, body: "hello from target\n")
        case .bytes(let count):
            startBytes(context: context, head: head, count: count)
        case .staticFile(let components, let trailingSlash, let path):
            loadStatic(context: context, head: head, components: components, trailingSlash: trailingSlash, path: path)
        case .badRequest(let reason):
            respond(context: context, to: head, status: .badRequest, body: reason + "\n")
        case .notFound, .sha256:
            // .sha256 is routed at the head; reaching here means it was not a POST/PUT.
            respond(context: context, to: head, status: .notFound, body: "not found\n")
        }
    }

    private func startBytes(context: ChannelHandlerContext, head: HTTPRequestHead, count: Int) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "Content-Length", value: String(count))
        context.write(wrapOutboundOut(.head(responseHead(for: head, status: .ok, headers: headers))), promise: nil)
        if head.method == .HEAD {
            finishResponse(context: context, keepAlive: head.isKeepAlive)
            return
        }
        state = .streamingBytes(keepAlive: head.isKeepAlive, sent: 0, total: count)
        pumpBytes(context: context)
    }

    /// Writes the next pieces of a `/bytes` body while the channel is writable;
    /// `channelWritabilityChanged` calls it again when the peer has caught up.
    /// At most about one piece above the high-water mark is ever queued.
    private func pumpBytes(context: ChannelHandlerContext) {
        guard !isPumping else { return }
        isPumping = true
        defer { isPumping = false }

        while case .streamingBytes(let keepAlive, let sent, let total) = state {
            guard sent < total else {
                finishResponse(context: context, keepAlive: keepAlive)
                return
            }
            guard context.channel.isWritable else { return }
            let length = min(DeterministicBytes.pieceSize, total - sent)
            var buffer = context.channel.allocator.buffer(capacity: length)
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer in
                DeterministicBytes.fill(UnsafeMutableRawBufferPointer(rebasing: pointer[0..<length]), offset: sent)
                return length
            }
            state = .streamingBytes(keepAlive: keepAlive, sent: sent + length, total: total)
            // A failed write closes the channel, which sets `.closed` and ends the loop.
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
    }

    private func loadStatic(
        context: ChannelHandlerContext,
        head: HTTPRequestHead,
        components: [String],
        trailingSlash: Bool,
        path: String
    ) {
        guard let staticFiles else {
            respond(context: context, to: head, status: .notFound, body: "no static root configured\n")
            return
        }
        state = .loadingFile(head)
        threadPool.runIfActive(eventLoop: context.eventLoop) {
            staticFiles.lookup(components: components, trailingSlash: trailingSlash, requestPath: path)
        }
        .assumeIsolated()
        .whenComplete { result in
            // The connection may have gone away while the file was read.
            guard case .loadingFile(let head) = self.state else { return }
            self.state = .idle
            switch result {
            case .success(.file(let body, let contentType)):
                self.respond(context: context, to: head, status: .ok, body: body, contentType: contentType)
            case .success(.redirect(let location)):
                var headers = HTTPHeaders()
                headers.add(name: "Location", value: location)
                self.respond(context: context, to: head, status: .movedPermanently, body: "see \(location)\n", extraHeaders: headers)
            case .success(.notFound):
                self.respond(context: context, to: head, status: .notFound, body: "not found\n")
            case .failure(let error):
                self.respond(context: context, to: head, status: .internalServerError, body: "\(error)\n")
            }
        }
    }

    // MARK: - Writing responses

    private func respond(
        context: ChannelHandlerContext,
        to head: HTTPRequestHead,
        status: HTTPResponseStatus,
        body: String,
        extraHeaders: HTTPHeaders = HTTPHeaders()
    ) {
        respond(
            context: context, to: head, status: status,
            body: context.channel.allocator.buffer(string: body), contentType: "text/plain; charset=utf-8",
            extraHeaders: extraHeaders
        )
    }

    private func respond(
        context: ChannelHandlerContext,
        to head: HTTPRequestHead,
        status: HTTPResponseStatus,
        body: ByteBuffer,
        contentType: String,
        extraHeaders: HTTPHeaders = HTTPHeaders()
    ) {
        var headers = extraHeaders
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        context.write(wrapOutboundOut(.head(responseHead(for: head, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        finishResponse(context: context, keepAlive: head.isKeepAlive)
    }

    private func finishResponse(context: ChannelHandlerContext, keepAlive: Bool) {
        state = .idle
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// A response head that mirrors the request's keep-alive choice, as in NIO's HTTP server example.
    private func responseHead(for request: HTTPRequestHead, status: HTTPResponseStatus, headers: HTTPHeaders) -> HTTPResponseHead {
        var head = HTTPResponseHead(version: request.version, status: status, headers: headers)
        switch (request.isKeepAlive, request.version.major, request.version.minor) {
        case (true, 1, 0):
            head.headers.add(name: "Connection", value: "keep-alive")
        case (false, 1, let minor) where minor >= 1:
            head.headers.add(name: "Connection", value: "close")
        default:
            break
        }
        return head
    }
}
