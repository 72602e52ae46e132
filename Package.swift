// swift-tools-version:6.1
import PackageDescription

// Kernels are built for the CPU they run on, as llama.cpp is: without it Swift emits SSE code only.
let nativeCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"], .when(configuration: .release))]

let package = Package(
    name: "exo-peer",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "exo-peer", targets: ["exo-peer"]),
        // For the fuzz harnesses of Fuzz/, a package of their own so their instrumented build never touches this one.
        .library(name: "Mesh", targets: ["Mesh"]),
        .library(name: "Gossip", targets: ["Gossip"]),
        .library(name: "Inference", targets: ["Inference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Default traits pull in swift-configuration, which we do not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    ],
    targets: [
        // C libraries, each behind a small Swift wrapper in the module that uses it.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CAvahi", pkgConfig: "avahi-client", providers: [.apt(["libavahi-client-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        .target(
            name: "Inference",
            dependencies: [
                "CBLAS",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: nativeCPU
        ),
        .target(
            name: "Mesh",
            dependencies: [
                "CSodium", "CAvahi",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Gossip",
            dependencies: [
                "Mesh",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "Placement"),
        .executableTarget(
            name: "exo-peer",
            dependencies: [
                "Mesh", "Gossip", "Placement", "Inference",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),

        .testTarget(name: "InferenceTests", dependencies: ["Inference"], swiftSettings: nativeCPU),
        .testTarget(
            name: "MeshTests",
            dependencies: [
                "Mesh",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "GossipTests", dependencies: ["Gossip"]),
        .testTarget(name: "PlacementTests", dependencies: ["Placement"]),
        .testTarget(
            name: "ExoPeerTests",
            dependencies: [
                "exo-peer", "Gossip", "Mesh",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
