import Foundation

/// The sessions the gateway accepts and their tokens.
///
/// A session id never contains `:` (it is the separator in `SESSION:TOKEN` lines and in the
/// tunnel's Basic credentials); a token may. Tokens are compared in constant time so that
/// response timing says nothing about how much of a guess was right.
public struct TokenTable: Sendable {
    /// Session id → token.
    public let entries: [String: String]
    /// The same entries as bytes, in a fixed order, for the constant-time scans.
    private let tokens: [(session: String, token: [UInt8])]

    public init(_ entries: [String: String]) throws(TokenTableError) {
        guard !entries.isEmpty else { throw .empty }
        for (session, token) in entries {
            try Self.validate(session: session, token: token, line: nil)
        }
        self.entries = entries
        self.tokens = entries.sorted { $0.key < $1.key }.map { ($0.key, Array($0.value.utf8)) }
    }

    /// The session whose token `presented` is (nil if none). Every configured token is compared,
    /// whatever matched earlier, so the time taken does not depend on which one matched.
    public func session(forToken presented: String) -> String? {
        let presented = Array(presented.utf8)
        var match: String? = nil
        for entry in self.tokens where Self.constantTimeEquals(presented, entry.token) {
            // `where` still visits every entry; first match wins when tokens are shared.
            if match == nil { match = entry.session }
        }
        return match
    }

    /// Whether `token` is the token of `session`, compared in constant time.
    public func isValid(session: String, token: String) -> Bool {
        guard let expected = self.entries[session] else { return false }
        return Self.constantTimeEquals(Array(token.utf8), Array(expected.utf8))
    }

    /// Equality whose running time depends only on the length of `presented`, not on where
    /// (or whether) it differs from `expected`.
    public static func constantTimeEquals(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        guard !expected.isEmpty else { return presented.isEmpty }
        var difference = UInt8(presented.count == expected.count ? 0 : 1)
        for index in presented.indices {
            difference |= presented[index] ^ expected[index % expected.count]
        }
        return difference == 0
    }

    // MARK: Parsing

    /// One `SESSION:TOKEN` (as given to `--token`), split at the first `:`.
    public static func parseEntry(_ text: String) throws(TokenTableError) -> (session: String, token: String) {
        try Self.parseEntry(text, line: nil)
    }

    /// A tokens file: one `SESSION:TOKEN` per line; blank lines and lines starting with `#`
    /// (after leading whitespace) are ignored; surrounding whitespace is not part of an entry.
    public static func parseFile(contents: String) throws(TokenTableError) -> [(session: String, token: String)] {
        var entries: [(session: String, token: String)] = []
        // `isNewline`, not "\n": in Swift "\r\n" is one Character, so a CRLF file would not split on "\n".
        for (index, rawLine) in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            entries.append(try Self.parseEntry(line, line: index + 1))
        }
        return entries
    }

    /// Merges entries from all sources; a session listed twice is an error even with the same
    /// token, since it is almost always a copy-paste slip.
    public static func merge(_ entries: [(session: String, token: String)]) throws(TokenTableError) -> [String: String] {
        var table: [String: String] = [:]
        for entry in entries {
            guard table[entry.session] == nil else { throw .duplicateSession(entry.session) }
            table[entry.session] = entry.token
        }
        return table
    }

    private static func parseEntry(_ text: String, line: Int?) throws(TokenTableError) -> (session: String, token: String) {
        guard let colon = text.firstIndex(of: ":") else { throw .malformedEntry(line: line) }
        let session = String(text[..<colon]).trimmingCharacters(in: .whitespaces)
        let token = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        try Self.validate(session: session, token: token, line: line)
        return (session, token)
    }

    private static func validate(session: String, token: String, line: Int?) throws(TokenTableError) {
        guard !session.isEmpty, !token.isEmpty, !session.contains(":") else { throw .malformedEntry(line: line) }
        // Both travel in HTTP headers: no control characters or spaces.
        let isHeaderSafe: (Unicode.Scalar) -> Bool = { $0.value > 0x20 && $0.value < 0x7F }
        guard session.unicodeScalars.allSatisfy(isHeaderSafe), token.unicodeScalars.allSatisfy(isHeaderSafe) else {
            throw .invalidCharacters(session: session, line: line)
        }
    }
}

public enum TokenTableError: Error, Equatable, CustomStringConvertible {
    case empty
    /// Not `SESSION:TOKEN` with both parts non-empty (the entry is not quoted: it holds a secret).
    case malformedEntry(line: Int?)
    case invalidCharacters(session: String, line: Int?)
    case duplicateSession(String)

    public var description: String {
        switch self {
        case .empty:
            "no tokens configured: give at least one SESSION:TOKEN"
        case .malformedEntry(let line):
            "\(Self.place(line))expected SESSION:TOKEN with a non-empty session (no ':') and token"
        case .invalidCharacters(let session, let line):
            "\(Self.place(line))session \"\(session)\": session and token must be printable ASCII without spaces"
        case .duplicateSession(let session):
            "session \"\(session)\" is configured more than once"
        }
    }

    private static func place(_ line: Int?) -> String {
        line.map { "line \($0): " } ?? ""
    }
}

/// `Proxy-Authorization: Basic base64(SESSION:TOKEN)`, as the relay sends it in the CONNECT head.
public struct BasicCredentials: Sendable, Equatable {
    public var session: String
    public var token: String

    public init(session: String, token: String) {
        self.session = session
        self.token = token
    }

    /// nil unless `headerValue` is `Basic <base64 of SESSION:TOKEN>` (scheme case-insensitive).
    public init?(headerValue: String) {
        let parts = headerValue.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Data(base64Encoded: String(parts[1].trimmingCharacters(in: .whitespaces))),
              let text = String(data: decoded, encoding: .utf8),
              let colon = text.firstIndex(of: ":")
        else { return nil }
        self.session = String(text[..<colon])
        self.token = String(text[text.index(after: colon)...])
    }

    public var headerValue: String {
        "Basic " + Data("\(self.session):\(self.token)".utf8).base64EncodedString()
    }
}
