// swift-tools-version:6.1
import PackageDescription

import Foundation

// Kernels are built for the CPU they run on, as llama.cpp is: without it Swift emits SSE code only.
// The same CPU's flags choose the kernels' instruction set at build time (Sources/Inference/Kernels/x86/):
// calling an intrinsic the target lacks crashes the compiler, so each path is compiled only where the CPU
// has it. Debug builds are not native and take the portable path. EXO_KERNELS=avx2|portable forces a
// lower path (to test every path on one machine).
let cpuFlags: Set<Substring> = {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    return Set(line.split(separator: " "))
}()
let kernelPath: String = {
    let forced = ProcessInfo.processInfo.environment["EXO_KERNELS"]
    if forced == "portable" { return "portable" }
    if forced != "avx2", ["avx512f", "avx512bw", "avx512vl"].allSatisfy(cpuFlags.contains) { return "avx512" }
    if ["avx2", "fma", "f16c"].allSatisfy(cpuFlags.contains) { return "avx2" }
    return "portable"
}()
let kernelConditions: [String] = {
    var c: [String] = []
    if kernelPath == "avx512" { c += ["KERNELS_AVX512", "KERNELS_AVX2"] }
    if kernelPath == "avx2" { c += ["KERNELS_AVX2"] }
    if kernelPath == "avx512", cpuFlags.contains("avx512_vnni") { c.append("KERNELS_AVX512VNNI") }
    if kernelPath != "portable", cpuFlags.contains("avx_vnni") { c.append("KERNELS_AVXVNNI") }
    return c
}()
let nativeCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"], .when(configuration: .release))]
    + kernelConditions.map { .define($0, .when(configuration: .release)) }

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
