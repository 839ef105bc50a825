// swift-tools-version:6.0
// libFuzzer targets for the protocol module. Not part of the root package: every module here
// must be compiled with `-sanitize=fuzzer`, which `scripts/fuzz.sh` passes (a plain
// `swift build` of this package fails to link, as LLVMFuzzerRunDriver is then missing).
import PackageDescription

let package = Package(
    name: "relay-init-fuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2")
    ],
    targets: [
        // The root package's sources, through a symlink to ../../Sources/RelayProtocol, so that
        // they are compiled with the fuzzer's instrumentation and the root package keeps no
        // library product or fuzzer flag for their sake.
        .target(name: "RelayProtocol", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // Declares libFuzzer's LLVMFuzzerRunDriver (header only).
        .systemLibrary(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
        .executableTarget(
            name: "ChunkDecoderFuzzer",
            dependencies: ["RelayProtocol", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .executableTarget(
            name: "ConnectHeadFuzzer",
            dependencies: ["RelayProtocol", "FuzzSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),
    ]
)
