import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The "internet" that tunnels reach in tests: a real HTTP/1.1 server over
/// TLS (or plain TCP), with keep-alive.
///
/// Endpoints:
/// - `GET /hello` → `hello from target\n`
/// - `GET /bytes/N` → N bytes of ``DeterministicBytes``, streamed in 64 KiB
///   pieces only while the connection is writable (a 1 GiB body is never in memory)
/// - `POST|PUT /sha256` → `"<hex sha256> <byte count>\n"` of the streamed request body
/// - `GET /static/<path>` → files under `staticRoot`; `dir/` serves `dir/index.html`,
///   `dir` redirects (301) to `dir/` (git dumb HTTP, pip simple index)
/// - anything else → 404
///
/// `HEAD` works wherever `GET` does.
public final class HTTPSTarget: Sendable {
    /// The port bound (the real one when 0 was asked).
    public let port: Int
    public let host: String
    /// Whether the target speaks TLS; `url(_:)` picks the scheme from it.
    public let isTLS: Bool
    private let listener: Listener

    private init(host: String, port: Int, isTLS: Bool, listener: Listener) {
        self.host = host
        self.port = port
        self.isTLS = isTLS
        self.listener = listener
    }

    /// Starts listening.
    ///
    /// - Parameters:
    ///   - tls: the certificate to serve; `nil` for plain HTTP.
    ///   - staticRoot: directory behind `/static/`; `nil` makes `/static/…` 404.
    public static func start(
        host: String = "127.0.0.1",
        port: Int = 0,
        tls: IssuedCertificate?,
        staticRoot: String? = nil
    ) async throws -> HTTPSTarget {
        let sslContext = try tls.map(makeSSLContext)
        let staticFiles = staticRoot.map(StaticFiles.init(root:))
        let listener = try await Listener.bind(host: host, port: port) { channel in
            let pipeline = channel.pipeline.syncOperations
            if let sslContext {
                try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
            }
            try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
            try pipeline.addHandler(TargetRequestHandler(staticFiles: staticFiles))
        }
        return HTTPSTarget(host: host, port: listener.port, isTLS: sslContext != nil, listener: listener)
    }

    /// `https://host:port/path` (or `http://`), with `host` bracketed when it is IPv6.
    public func url(_ path: String, host: String? = nil) -> String {
        let name = host ?? self.host
        let authority = name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)"
        return "\(isTLS ? "https" : "http")://\(authority)\(path)"
    }

    /// Stops accepting and closes every open connection.
    public func shutdown() async {
        await listener.shutdown()
    }

    /// The first `count` bytes that `GET /bytes/N` (N ≥ count) sends. See ``DeterministicBytes``.
    public static func expectedBytes(count: Int) -> [UInt8] {
        DeterministicBytes.bytes(count: count)
    }

    /// Lowercase hex SHA-256 of the body of `GET /bytes/<count>`.
    public static func expectedSHA256(count: Int) -> String {
        DeterministicBytes.sha256(count: count)
    }

    private static func makeSSLContext(_ certificate: IssuedCertificate) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificate.certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificate.privateKeyPEM.utf8), format: .pem))
        )
        configuration.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }
}
