// swift-tools-version: 6.1
import PackageDescription

/// Kernel modules are built for the host CPU by the Makefile (`-target-cpu native`), so that
/// SIMD code lowers to AVX-512/AVX2 and fp16 conversion to F16C. Plain `swift build` still works,
/// just slower.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "SmartInfinity",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "smartinf", targets: ["smartinf"]),
        .library(name: "Optim", targets: ["Optim"]),
        .library(name: "Compression", targets: ["Compression"]),
        .library(name: "Checksum", targets: ["Checksum"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: liburing-dev, libzstd-dev,
        // libopenblas-dev).
        .systemLibrary(name: "CLiburing", pkgConfig: "liburing",
                       providers: [.apt(["liburing-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),

        // Small C helpers: vector sqrt / fp16 conversion that Swift does not lower well, and
        // hardware CRC32C.
        .target(name: "CKernels"),

        .target(name: "Checksum", dependencies: ["CKernels"], swiftSettings: kernelSettings),
        .target(name: "Optim", dependencies: ["CKernels"], swiftSettings: kernelSettings),
        .target(name: "Compression", dependencies: ["Optim", "Checksum", "CZstd"],
                swiftSettings: kernelSettings),
        .target(name: "Benchmarking", dependencies: ["Optim", "Compression"]),
        .executableTarget(name: "smartinf", dependencies: [
            "Benchmarking",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "ChecksumTests", dependencies: ["Checksum"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim"]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression", "Optim"]),
    ],
    swiftLanguageModes: [.v6]
)
