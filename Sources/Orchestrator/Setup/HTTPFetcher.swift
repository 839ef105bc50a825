import CCurl
import Logging
import RelayProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a GET failed. The URL is shown without credentials, and no body is ever quoted:
/// the body of a token URL is the token.
public struct HTTPFetchError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// libcurl gave up: its error code and its own message.
        case transport(code: Int, message: String)
        /// The server answered with a status other than 2xx.
        case status(Int)
        /// The body passed `limit` bytes.
        case bodyTooLarge(limit: Int)
    }

    public var url: String
    public var reason: Reason
    public var attempts: Int

    public var description: String {
        let tries = self.attempts == 1 ? "failed" : "failed after \(self.attempts) attempts"
        switch self.reason {
        case .transport(_, let message):
            return "GET \(self.url) \(tries): \(message)"
        case .status(let status) where (400..<500).contains(status):
            return "GET \(self.url) \(tries): HTTP \(status) (a client error; not retried)"
        case .status(let status):
            return "GET \(self.url) \(tries): HTTP \(status)"
        case .bodyTooLarge(let limit):
            return "GET \(self.url) \(tries): the body is larger than \(limit) bytes"
        }
    }
}

/// Blocking HTTP GET through libcurl, for the token URL and the CA endpoint.
///
/// Never through a proxy (an inherited HTTPS_PROXY may point at a relay that is not up yet),
/// TLS verified against the system bundle, bounded in time and in body size, and retried
/// with backoff only where retrying can help: connection-level failures and 5xx.
public struct HTTPFetcher: Sendable {
    public struct Policy: Sendable {
        public var attempts: Int
        /// Pause before the second attempt; doubled before each later one.
        public var firstBackoff: Duration
        public var connectTimeout: Duration
        /// Bound on one whole attempt (connect + TLS + transfer).
        public var attemptTimeout: Duration
        public var maxBodySize: Int

        public init(
            attempts: Int = 3,
            firstBackoff: Duration = .milliseconds(200),
            connectTimeout: Duration = .seconds(5),
            attemptTimeout: Duration = .seconds(15),
            maxBodySize: Int = 1 << 20
        ) {
            self.attempts = max(1, attempts)
            self.firstBackoff = firstBackoff
            self.connectTimeout = connectTimeout
            self.attemptTimeout = attemptTimeout
            self.maxBodySize = maxBodySize
        }
    }

    /// PEM bundle https servers are verified against; nil leaves libcurl's built-in default.
    public var caFile: String?
    public var policy: Policy
    public var logger: Logger?

    public init(caFile: String?, policy: Policy = Policy(), logger: Logger? = nil) {
        self.caFile = caFile
        self.policy = policy
        self.logger = logger
    }

    /// `curl_global_init` is not thread-safe and must run once: a Swift global is initialised exactly once.
    private static let globalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    public func get(_ url: EndpointURL) throws(HTTPFetchError) -> [UInt8] {
        _ = Self.globalInit
        var backoff = self.policy.firstBackoff
        var attempt = 1
        while true {
            switch self.attempt(url) {
            case .success(let body):
                return body
            case .failure(let reason, let retryable):
                guard retryable, attempt < self.policy.attempts else {
                    throw HTTPFetchError(url: url.description, reason: reason, attempts: attempt)
                }
                let failure = HTTPFetchError(url: url.description, reason: reason, attempts: attempt)
                self.logger?.debug("\(failure); retrying in \(backoff) (attempt \(attempt + 1) of \(self.policy.attempts))")
                Self.sleep(backoff)
                backoff *= 2
                attempt += 1
            }
        }
    }

    private enum Attempt {
        case success([UInt8])
        case failure(HTTPFetchError.Reason, retryable: Bool)
    }

    private func attempt(_ url: EndpointURL) -> Attempt {
        guard let handle = curl_easy_init() else {
            return .failure(.transport(code: Int(CURLE_FAILED_INIT.rawValue), message: "libcurl could not create a handle"), retryable: false)
        }
        defer { curl_easy_cleanup(handle) }

        let sink = BodySink(limit: self.policy.maxBodySize)
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorBuffer in
            relay_curl_setopt_string(handle, CURLOPT_URL, url.string)
            relay_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer.baseAddress)
            relay_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
            relay_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
            // Signals are for the supervisor: libcurl must not install handlers or use alarm().
            relay_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
            // Direct connection always: "*" disables every proxy, including inherited *_PROXY variables.
            relay_curl_setopt_string(handle, CURLOPT_NOPROXY, "*")
            relay_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
            relay_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(self.policy.connectTimeout))
            relay_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(self.policy.attemptTimeout))
            relay_curl_setopt_string(handle, CURLOPT_USERAGENT, "relay-init/\(RelayInit.version)")
            relay_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
            relay_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
            if url.scheme == .https, let caFile = self.caFile {
                relay_curl_setopt_string(handle, CURLOPT_CAINFO, caFile)
            }
            relay_curl_setopt_write_function(handle) { data, size, count, context in
                let sink = Unmanaged<BodySink>.fromOpaque(context!).takeUnretainedValue()
                return sink.append(data, count: size * count)
            }
            return withExtendedLifetime(sink) {
                relay_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(sink).toOpaque())
                return curl_easy_perform(handle)
            }
        }

        if sink.exceeded {
            return .failure(.bodyTooLarge(limit: self.policy.maxBodySize), retryable: false)
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail.trimmingWhitespace()
            return .failure(.transport(code: Int(code.rawValue), message: message), retryable: Self.retryable.contains(code))
        }
        var status = 0
        relay_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        guard (200..<300).contains(status) else {
            // 5xx may be a gateway restarting; 3xx and 4xx will answer the same again.
            return .failure(.status(status), retryable: status >= 500)
        }
        return .success(sink.bytes)
    }

    /// Failures a second attempt can cure: the server not up yet, a network blip, a timeout.
    /// Not: certificate errors, malformed URLs, our own body-size abort.
    private static let retryable: [CURLcode] = [
        CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
        CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
        CURLE_SSL_CONNECT_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM,
    ]

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// Collects the body for libcurl's write callback, refusing to grow past `limit`.
private final class BodySink {
    let limit: Int
    var bytes: [UInt8] = []
    var exceeded = false

    init(limit: Int) { self.limit = limit }

    /// Returns the count taken; anything else makes libcurl abort the transfer.
    func append(_ data: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        guard self.bytes.count + count <= self.limit else {
            self.exceeded = true
            return 0
        }
        if let data, count > 0 {
            self.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: count))
        }
        return count
    }
}
