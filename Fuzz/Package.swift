// swift-tools-version:6.1
import PackageDescription

// libFuzzer harnesses for exo-peer's parsers of untrusted bytes. A package of its own: `--sanitize=fuzzer`
// instruments everything it builds, so it gets its own .build and the node's build never sees it.
// Build and run with scripts/fuzz.sh; Fuzz/README.md has the figures of the long runs.
let harnesses: [(name: String, path: String, dependencies: [Target.Dependency])] = [
    ("fuzz-frame", "FrameFuzzer", [.product(name: "Mesh", package: "exo-peer")]),
    ("fuzz-handshake", "HandshakeFuzzer", [.product(name: "Mesh", package: "exo-peer")]),
    ("fuzz-gguf", "GGUFFuzzer", [.product(name: "Inference", package: "exo-peer")]),
    ("fuzz-gossip", "GossipFuzzer", [.product(name: "Gossip", package: "exo-peer"), .product(name: "Mesh", package: "exo-peer")]),
]

let package = Package(
    name: "exo-peer-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "exo-peer", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
    ] + harnesses.map { harness in
        .executableTarget(
            name: harness.name,
            dependencies: ["FuzzSupport", .product(name: "NIOCore", package: "swift-nio")] + harness.dependencies,
            path: "Sources/\(harness.path)",
            // libFuzzer supplies main; the harness only defines LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    }
)
