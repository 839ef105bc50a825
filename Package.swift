// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "relay-init",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "relay-init", targets: ["relay-init"]),
        .executable(name: "relay-gateway", targets: ["relay-gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // Holds the pure protocol: the chunk codec, the CONNECT head parser, the one host:port
        // parser (Authority) and URL type (EndpointURL). Must not know of I/O, channels or processes.
        .target(
            name: "RelayProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // Holds what relay and gateway share: chunks over WebSocket frames, the glue with
        // backpressure, buffer tuning, name resolution. Must not know which end it runs at.
        .target(
            name: "TunnelIO",
            dependencies: [
                "RelayProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Holds the relay: the CONNECT listener and one WebSocket per tunnel. Must not know of
        // tokens' sources, files, the env file or the child process (the orchestrator's).
        .target(
            name: "Relay",
            dependencies: [
                "RelayProtocol",
                "TunnelIO",
                "CSystemShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Holds the reference gateway: CA and WebSocket endpoints, auth, policy, target dialling,
        // its command line and its run as a service (ServiceLifecycle). Must not know the relay.
        .target(
            name: "Gateway",
            dependencies: [
                "RelayProtocol",
                "RelayLogging",
                "TunnelIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Holds the log output of both executables: swift-log's text lines or JSON lines.
        // Must not know what is logged.
        .target(
            name: "RelayLogging",
            dependencies: [.product(name: "Logging", package: "swift-log")]
        ),
        // libcurl, with typed setters for the variadic curl_easy_setopt.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // prctl, posix_spawn extensions and malloc_trim (header-only).
        .systemLibrary(name: "CSystemShims"),
        // Holds the init (tini's job): signal mask and forwarding, subreaper, spawning the command
        // in its own process group on the terminal, reaping, exit statuses. Must not know of
        // proxies, tokens or the relay.
        .target(
            name: "Init",
            dependencies: [
                "CSystemShims",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Holds relay-init's orchestration: options, token, CA bundle, env file, start-up order;
        // hands the command to Init. Must not know NIO pipelines (the relay's) or signals (Init's).
        .target(
            name: "Orchestrator",
            dependencies: [
                "Init",
                "Relay",
                "RelayProtocol",
                "RelayLogging",
                "CCurl",
                "CSystemShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The two executables hold nothing but their entry point.
        .executableTarget(name: "relay-init", dependencies: ["Orchestrator"]),
        // Test helper: Init alone as a process's init, for Tests/InitTests (no proxy, no relay).
        .executableTarget(
            name: "init-harness",
            dependencies: ["Init", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(name: "relay-gateway", dependencies: ["Gateway"]),

        // Holds test infrastructure: a test CA, HTTPS targets, process helpers, the end-to-end
        // harness, SPEC's lists written out. Must not know the product's modules (it drives binaries).
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Development helper: a local HTTPS target with its own CA (demo, benchmarks).
        .executableTarget(
            name: "relay-test-target",
            dependencies: [
                "TestSupport",
                "RelayProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .testTarget(
            name: "RelayLoggingTests",
            dependencies: ["RelayLogging", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "RelayProtocolTests", dependencies: ["RelayProtocol", "TestSupport"], exclude: ["protobuf_crosscheck.py"]),
        .testTarget(
            name: "TunnelIOTests",
            dependencies: [
                "TunnelIO", "RelayProtocol", "TestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RelayTests",
            dependencies: [
                "Relay", "Gateway", "TestSupport", "RelayProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "TestSupport", "RelayProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "InitTests", dependencies: ["Init", "TestSupport"]),
        .testTarget(name: "OrchestratorTests", dependencies: ["Orchestrator", "RelayProtocol", "TestSupport"]),
        .testTarget(name: "RelayInitEndToEndTests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "ReliabilityTests",
            dependencies: [
                "TestSupport", "RelayProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Relay", "Gateway", "TestSupport", "RelayProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport"]),
        .testTarget(name: "ScriptsTests", dependencies: ["TestSupport"]),
    ]
)
