import FuzzSupport
import NIOCore
import RelayProtocol

#if canImport(Glibc)
import Glibc
#endif

/// What `ConnectHeadParser` must do with any bytes, however they are split into reads
/// (SPEC §6.1): never crash; give the same outcome as one read of everything; complete at the
/// first CRLF CRLF within 8,192 bytes, with the bytes after it as leftover; refuse only with
/// 400, 405 or 431, and 431 only when no head ended within 8,192 bytes; take `[v6]:port` exactly
/// when `inet_pton` takes the address (RFC 4291 §2.2, RFC 3986's IP-literal).
///
/// Input layout: two selector bytes that choose the reads, then the bytes the client sends.
enum ConnectHeadFuzz {
    static func check(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 2 else { return }
        let sent = [UInt8](input.dropFirst(2))
        let reads = self.reads(of: sent, selector: Int(input[0]) << 8 | Int(input[1]))

        let whole = Outcome(feeding: [sent[...]])
        let split = Outcome(feeding: reads)
        invariant(
            whole == split,
            "one read gave \(whole), reads of \(reads.map(\.count)) bytes gave \(split), for [\(sent.hex)]"
        )
        self.checkAgainstSpec(whole, sent: sent)
    }

    /// Two or three reads, some possibly empty: the first selector byte's low bit asks for a
    /// third read; the 16-bit selector places the cuts.
    static func reads(of sent: [UInt8], selector: Int) -> [ArraySlice<UInt8>] {
        let first = selector % (sent.count + 1)
        guard selector & 0x100 != 0 else { return [sent[..<first], sent[first...]] }
        let second = first + (selector / 7) % (sent.count - first + 1)
        return [sent[..<first], sent[first..<second], sent[second...]]
    }

    enum Outcome: Equatable, CustomStringConvertible {
        case needMoreData
        case complete(ConnectRequest)
        case refused(ConnectHeadError)

        /// Feeds the reads in order until the parser is done. Reads after completion are
        /// appended to the leftover, as the relay keeps them in order for the tunnel.
        init(feeding reads: [ArraySlice<UInt8>]) {
            var parser = ConnectHeadParser()
            for (index, read) in reads.enumerated() {
                do {
                    switch try parser.feed(ByteBuffer(bytes: read)) {
                    case .needMoreData:
                        continue
                    case .complete(var request):
                        for later in reads[(index + 1)...] { request.leftover.writeBytes(later) }
                        self = .complete(request)
                        return
                    }
                } catch {
                    self = .refused(error)
                    return
                }
            }
            self = .needMoreData
        }

        var description: String {
            switch self {
            case .needMoreData: "needMoreData"
            case .complete(let request): "complete(\(request.requestLine.debugDescription), leftover \(request.leftover.readableBytes) bytes)"
            case .refused(let error): "\(error.statusCode) (\(error))"
            }
        }
    }

    static func checkAgainstSpec(_ outcome: Outcome, sent: [UInt8]) {
        let limit = ConnectHeadParser.maximumHeadLength
        // Where the head ends: the first CRLF CRLF, if it lies within the first 8,192 bytes.
        let headEnd = self.firstTerminator(in: sent.prefix(limit)).map { $0 + 4 }

        switch outcome {
        case .needMoreData:
            invariant(headEnd == nil && sent.count < limit, "needMoreData with \(sent.count) bytes, head end \(String(describing: headEnd)), for [\(sent.hex)]")

        case .refused(let error):
            invariant([400, 405, 431].contains(error.statusCode), "status \(error.statusCode)")
            if error.statusCode == 431 {
                invariant(headEnd == nil && sent.count >= limit, "431 with a head ending at \(String(describing: headEnd)) of \(sent.count) bytes")
            } else {
                invariant(headEnd != nil, "\(error.statusCode) before the head was complete, for [\(sent.hex)]")
            }
            let response = error.response
            invariant(
                response.hasPrefix("HTTP/1.1 \(error.statusCode) ") && response.hasSuffix("\r\n\r\n")
                    && response.contains("\r\nConnection: close\r\n"),
                "response \(response.debugDescription)"
            )
            invariant((error.statusCode == 405) == response.contains("\r\nAllow: CONNECT\r\n"), "Allow header in \(response.debugDescription)")
            if case .invalidTarget(let target) = error, let (address, port) = Self.bracketedTarget(target) {
                invariant(
                    !(Self.isIPv6Address(address, zone: .unreserved) && Self.isPort(port)),
                    "400 for the valid IPv6 target \(target.debugDescription)"
                )
            }

        case .complete(let request):
            guard let headEnd else {
                invariant(false, "complete without CRLF CRLF in the first \(limit) bytes, for [\(sent.hex)]")
                return
            }
            invariant(request.leftover.readableBytesView.elementsEqual(sent[headEnd...]), "leftover is not the bytes after the head, for [\(sent.hex)]")

            let head = sent[..<(headEnd - 4)]
            let lineEnd = self.firstCRLF(in: head) ?? head.endIndex
            let line = request.requestLine.utf8
            invariant(line.elementsEqual(head[..<lineEnd]), "request line \(request.requestLine.debugDescription) is not the first line as received, for [\(sent.hex)]")
            invariant(!line.contains(13) && !line.contains(10), "CR or LF in request line \(request.requestLine.debugDescription)")

            invariant((1...65535).contains(request.port), "port \(request.port)")
            invariant(!request.host.isEmpty, "empty host")
            invariant(request.method.uppercased() == "CONNECT", "method \(request.method)")
            let parts = request.requestLine.split(separator: " ", omittingEmptySubsequences: false)
            invariant(parts.count == 3 && parts[0] == request.method && parts[2] == request.version, "request line parts \(parts)")
            let target = parts.count == 3 ? ConnectTarget.parse(String(parts[1])) : nil
            invariant(target?.host == request.host && target?.port == request.port, "target \(String(describing: target)) vs \(request.host) \(request.port)")
            invariant(request.host.utf8.allSatisfy { $0 < 0x80 }, "non-ASCII host \(request.host.debugDescription)")
            if parts.count == 3, parts[1].hasPrefix("[") {
                invariant(Self.isIPv6Address(request.host), "\(parts[1].debugDescription) taken, but inet_pton rejects its address")
            } else {
                invariant(!request.host.contains(":"), "colon in the host \(request.host.debugDescription)")
            }
            let reparsed = ConnectTarget.parse(request.authority)
            invariant(reparsed?.host == request.host && reparsed?.port == request.port, "authority \(request.authority) does not parse back")
            for header in request.headers {
                invariant(
                    !header.name.isEmpty && !(header.name + header.value).utf8.contains(where: { $0 == 13 || $0 == 10 }),
                    "header \(header.name.debugDescription): \(header.value.debugDescription)"
                )
            }
        }
    }

    /// `[address]:port` split at the last `]`, or nil when the target is not of that shape.
    static func bracketedTarget(_ target: String) -> (address: Substring, port: Substring)? {
        guard target.hasPrefix("["), let close = target.lastIndex(of: "]") else { return nil }
        let rest = target[target.index(after: close)...]
        guard rest.hasPrefix(":") else { return nil }
        return (target[target.index(after: target.startIndex)..<close], rest.dropFirst())
    }

    /// Whether the C library takes `text` for an IPv6 address, after an optional non-empty
    /// `%zone`: an ASCII one when `zone` is `.ascii`, one of RFC 3986 unreserved characters when
    /// `.unreserved` (the parser may take more; it must take at least these).
    static func isIPv6Address(_ text: some StringProtocol, zone zoneRule: ZoneRule = .ascii) -> Bool {
        var address = Substring(text)
        if let percent = address.firstIndex(of: "%") {
            let zone = address[address.index(after: percent)...].utf8
            guard !zone.isEmpty, zone.allSatisfy(zoneRule == .ascii ? { $0 < 0x80 } : Self.isUnreserved) else { return false }
            address = address[..<percent]
        }
        guard !address.utf8.contains(0) else { return false }
        var storage = in6_addr()
        return String(address).withCString { inet_pton(AF_INET6, $0, &storage) } == 1
    }

    enum ZoneRule { case ascii, unreserved }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    static func isPort(_ text: Substring) -> Bool {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ (48...57).contains($0) }), let port = Int(text) else {
            return false
        }
        return (1...65535).contains(port)
    }

    static func firstTerminator(in bytes: ArraySlice<UInt8>) -> Int? {
        var index = bytes.startIndex
        while index + 3 < bytes.endIndex {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 { return index }
            index += 1
        }
        return nil
    }

    static func firstCRLF(in bytes: ArraySlice<UInt8>) -> Int? {
        var index = bytes.startIndex
        while index + 1 < bytes.endIndex {
            if bytes[index] == 13, bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }
}
