// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// Kernel modules are built for the host CPU by the Makefile (`-target-cpu native`), so that
/// SIMD code lowers to AVX-512/AVX2 and fp16 conversion to F16C. Plain `swift build` still works,
/// just slower.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

// Linux only: the SSD emulation is built on io_uring (liburing) and O_DIRECT, and the sources
// import Glibc and call Linux interfaces (fallocate, SO_PEERCRED, PR_SET_PDEATHSIG, BLKGETSIZE64).
// No `platforms` entry, since SwiftPM's platforms only set minimum versions of Apple systems.
/// swift-log: the libraries log through a `Logger` they are given; the executables choose the
/// handler. `InMemoryLogging` collects the records in tests.
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let inMemoryLogging = Target.Dependency.product(name: "InMemoryLogging", package: "swift-log")
let swiftProtobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")

let package = Package(
    name: "SmartInfinity",
    products: [
        .executable(name: "smartinf", targets: ["smartinf"]),
        .executable(name: "smartssd", targets: ["smartssd"]),
        .library(name: "Optim", targets: ["Optim"]),
        .library(name: "Compression", targets: ["Compression"]),
        .library(name: "Checksum", targets: ["Checksum"]),
        .library(name: "BlockIO", targets: ["BlockIO"]),
        // libsmartinfinity.so: the C ABI over the optimizer step (include/smartinf.h), which the
        // Python package loads. (Not "smartinf": product names are unique, and that one is the
        // command.)
        .library(name: "smartinfinity", type: .dynamic, targets: ["SmartInfABI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // Chakra's protobuf messages (the runtime only; the generated code is committed).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: liburing-dev, libzstd-dev,
        // libopenblas-dev).
        .systemLibrary(name: "CLiburing", pkgConfig: "liburing",
                       providers: [.apt(["liburing-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // MPI for data-parallel runs over several processes or hosts (Debian: libopenmpi-dev;
        // `mpi` is the pkg-config name Debian gives whichever MPI is the default).
        .systemLibrary(name: "CMPI", pkgConfig: "mpi", providers: [.apt(["libopenmpi-dev"])]),

        // Small C helpers: vector sqrt / fp16 conversion that Swift does not lower well, and
        // hardware CRC32C.
        .target(name: "CKernels"),
        // Linux calls hidden from Swift's Glibc module: O_DIRECT opens, fallocate, block-device
        // sizes, peer credentials, the parent-death signal, atomics on shared memory, glibc's
        // heap counters.
        .target(name: "CPosix"),

        .target(name: "Checksum", dependencies: ["CKernels"], swiftSettings: kernelSettings),
        // Reproducible pseudo-random data for tests and benchmarks.
        .target(name: "SeededRandom"),
        // The one way a file the project keeps is written: temporary, fsync, rename, directory
        // fsync. No dependencies, so that every writer (model files, traces, checkpoints,
        // reports, bench saves) can reach it.
        .target(name: "DurableWrite", dependencies: ["Checksum"]),
        // Hugging Face's safetensors format, fp32 only: exported checkpoints (`smartinf checkpoint export`).
        .target(name: "Safetensors", dependencies: ["DurableWrite"]),
        // Sizes and counts as people write them on command lines and in config files (64M, 1GiB).
        .target(name: "SizeNotation"),
        .target(name: "Optim", dependencies: ["CKernels"], swiftSettings: kernelSettings),
        .target(name: "Compression", dependencies: ["Optim", "Checksum", "CZstd"],
                swiftSettings: kernelSettings),
        // The one order gradients are summed in (a pairwise tree over micro-batches, then ranks),
        // which makes a run's sum independent of how many ranks computed it.
        .target(name: "ReductionOrder", dependencies: ["Optim"], swiftSettings: kernelSettings),
        // The ranks of a data-parallel job over MPI (or this process alone): reduce-scatter in
        // the fixed order, all-gather, a few scalars, byte accounting, typed failures; and the
        // workload of the multi-rank tests (`smartinf collective-check`).
        .target(name: "Collective", dependencies: ["CMPI", "ReductionOrder", "Optim", "SeededRandom", "DurableWrite"]),
        // The threads that run for a whole run (device workers, transfer stages) and the waits
        // between threads.
        .target(name: "Threading", dependencies: ["CPosix"]),
        // The words the analytic model and the emulated machine share, so neither has to import
        // the other: the four offload modes, the operations a device records in a step, and the
        // hook the paced clock slows those operations with. Pure Swift, no dependencies.
        .target(name: "OffloadVocabulary"),
        .target(name: "DeviceProtocol", dependencies: ["Checksum", "Optim", "CPosix", "OffloadVocabulary", "DurableWrite"]),
        .target(name: "BlockIO", dependencies: ["CLiburing", "CPosix", "Checksum", "Optim"]),
        .target(name: "GPT", dependencies: ["COpenBLAS", "Optim", "DurableWrite"], swiftSettings: kernelSettings),
        .target(name: "HardwareModel"),
        .target(name: "Plan", dependencies: ["HardwareModel", "OffloadVocabulary", "Optim"]),
        // Study reports: HTML + SVG charts from the sweep table (Foundation and the offload modes only).
        .target(name: "Report", dependencies: ["OffloadVocabulary", "DurableWrite"]),
        // The trace file format (versioned JSON Lines) and the Perfetto export.
        .target(name: "Trace", dependencies: ["Plan", "HardwareModel", "OffloadVocabulary", "DurableWrite"]),
        // MLCommons Chakra's execution-trace schema (et_def.proto), generated once by protoc-gen-swift
        // and committed; the only target that needs SwiftProtobuf besides its user below.
        .target(name: "ChakraSchema", dependencies: [swiftProtobuf]),
        // A trace as Chakra execution traces, one file per rank, for the ASTRA-sim toolchain
        // (`smartinf export --chakra`). Apart from Trace, so that Trace stays free of protobuf.
        .target(name: "ChakraExport", dependencies: ["Trace", "ChakraSchema", "Plan", "DurableWrite", swiftProtobuf]),
        // The live run's clocks: the paced clock's shared table and the hooks host and devices pace with.
        .target(name: "LiveClock", dependencies: ["Plan", "HardwareModel", "DeviceProtocol", "CPosix", "OffloadVocabulary"]),
        .target(name: "SmartSSD", dependencies: ["BlockIO", "DeviceProtocol", "Compression", "Optim", "Checksum", "Threading", "OffloadVocabulary", "DurableWrite", logging]),
        .target(name: "Offload", dependencies: ["SmartSSD", "DeviceProtocol", "BlockIO", "Compression", "Optim", "CPosix", "Checksum", "DurableWrite", "Threading", "OffloadVocabulary", logging]),
        // A DeepSpeed-style JSON config (`smartinf train --config`, `smartinfinity.initialize`):
        // the keys read, their types, the scheduler and batch sizes it gives.
        .target(name: "DeepSpeedConfig", dependencies: ["Optim", "OffloadVocabulary", "SizeNotation"]),
        // The optimizer step around a model (gradient check, loss scale, clipping, the fleet's
        // step, recovery): shared by the trainer and the C ABI.
        .target(name: "OffloadStep", dependencies: ["Offload", "DeviceProtocol", "Optim", "OffloadVocabulary", logging]),
        // The C entry points of libsmartinfinity: the caller's tensors as one flat parameter space,
        // stepped by OffloadStep.
        .target(name: "SmartInfABI", dependencies: ["OffloadStep", "Offload", "DeviceProtocol", "Optim", "OffloadVocabulary", "SizeNotation", "DeepSpeedConfig", "DurableWrite", logging]),
        .target(name: "Trainer", dependencies: ["DeepSpeedConfig", "GPT", "Offload", "OffloadStep", "DeviceProtocol", "Safetensors", "Optim", "SeededRandom", "LiveClock", "Plan", "HardwareModel", "Trace", "DurableWrite", "OffloadVocabulary", "SizeNotation", "Collective", "ReductionOrder", logging]),
        .target(name: "Benchmarking", dependencies: [
            "Optim", "Compression", "BlockIO", "SmartSSD", "DeviceProtocol", "SeededRandom", "Offload", "OffloadVocabulary",
            "Threading", "DurableWrite", "Collective", "Checksum", logging,
        ]),
        // Fuzz harnesses: every decoder of untrusted bytes with its seeds and checks, and a
        // mutation engine; run by `smartinf-fuzz` (below) and by the FuzzRegressionTests.
        .target(name: "FuzzTargets", dependencies: [
            "Compression", "Checksum", "DeviceProtocol", "Trace", "Plan", "HardwareModel", "Trainer", "DeepSpeedConfig", "GPT", "Optim",
            "SeededRandom", "Safetensors",
        ]),
        // The log output of both executables: `--log-level` and the handler that prints the
        // project's log lines.
        .target(name: "ConsoleLog", dependencies: [
            logging, .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "smartssd", dependencies: [
            "SmartSSD", "SizeNotation", "CPosix", "LiveClock", "ConsoleLog", logging,
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "smartinf", dependencies: [
            "Benchmarking", "Collective", "Trainer", "DeepSpeedConfig", "Offload", "OffloadStep", "OffloadVocabulary", "Optim", "GPT", "HardwareModel", "Plan", "Report", "Trace", "ChakraExport", "LiveClock",
            "SeededRandom", "SizeNotation", "DurableWrite", "ConsoleLog", logging,
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "ChecksumTests", dependencies: ["Checksum", "SeededRandom"]),
        .testTarget(name: "DurableWriteTests", dependencies: ["DurableWrite", "Checksum"]),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors"]),
        .testTarget(name: "OptimTests", dependencies: ["Optim", "SeededRandom"]),
        .testTarget(name: "CompressionTests", dependencies: ["Compression", "Checksum", "Optim", "SeededRandom", "FuzzTargets"]),
        .testTarget(name: "OffloadTests", dependencies: ["Offload", "OffloadVocabulary", "smartssd", "Optim", "SeededRandom", "DeviceProtocol", "Threading", "CPosix", "SmartSSD"]),
        // Reference/ holds the float64 numpy reference the parity test runs with python3.
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "DeepSpeedConfig", "GPT", "Offload", "OffloadStep", "Optim", "SeededRandom", "smartssd", "Trace", "Plan", "LiveClock", "HardwareModel", "DeviceProtocol", "OffloadVocabulary", "FuzzTargets", logging, inMemoryLogging]),
        .testTarget(name: "GPTTests", dependencies: ["GPT", "Optim", "SeededRandom", "FuzzTargets", "DurableWrite"], exclude: ["Reference"]),
        .testTarget(name: "HardwareModelTests", dependencies: ["HardwareModel", "FuzzTargets"]),
        .testTarget(name: "PlanTests", dependencies: ["Plan", "HardwareModel", "OffloadVocabulary", "Trainer", "Offload", "Optim", "smartssd"]),
        .testTarget(name: "TraceTests", dependencies: ["Trace", "Plan", "HardwareModel", "FuzzTargets", "DurableWrite"]),
        .testTarget(name: "ChakraExportTests", dependencies: ["ChakraExport", "ChakraSchema", "Trace", "Plan", "HardwareModel", swiftProtobuf]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "OffloadVocabulary"]),
        .testTarget(name: "BenchmarkingTests", dependencies: ["Benchmarking"]),
        .testTarget(name: "SizeNotationTests", dependencies: ["SizeNotation"]),
        // The sum order in process, and real ranks: `mpirun -np R smartinf collective-check`;
        // depending on the executable makes `swift test` build it.
        .testTarget(name: "CollectiveTests", dependencies: ["Collective", "ReductionOrder", "Optim", "SeededRandom", "CMPI", "Offload", "smartinf"]),
        .testTarget(name: "BlockIOTests", dependencies: ["BlockIO", "Optim"]),
        // Spawns real `smartssd` processes; depending on the executable makes `swift test` build it.
        .testTarget(name: "DeviceTests", dependencies: [
            "smartssd", "SmartSSD", "DeviceProtocol", "OffloadVocabulary", "BlockIO", "Compression", "Optim", "Checksum", "SeededRandom", "Offload",
            "FuzzTargets", "Threading", "CPosix",
        ]),
        // Spawns the real `smartinf` executable; depending on it makes `swift test` build it.
        .testTarget(name: "SmartInfCLITests", dependencies: ["smartinf"]),
    ],
    swiftLanguageModes: [.v6]
)

// The ordo-one benchmark suites (`make bench-suite`) are only declared when asked for, so that
// `swift build` and `swift test` do not pay for the benchmark package's build.
if ProcessInfo.processInfo.environment["SMARTINF_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]))
    package.targets.append(.executableTarget(
        name: "KernelBenchmarks",
        dependencies: [
            "Optim", "Compression", "Checksum",
            .product(name: "Benchmark", package: "benchmark"),
        ],
        path: "Benchmarks/KernelBenchmarks",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}

// The fuzzer executable (`make fuzz`) is only declared when asked for. Built with
// `-sanitize=fuzzer,address` and lld (which lets the package's own `main` stand in for
// libFuzzer's) it runs libFuzzer through `LLVMFuzzerRunDriver`; built plainly it runs FuzzTargets'
// mutation engine. See fuzz/README.md.
if ProcessInfo.processInfo.environment["SMARTINF_FUZZ"] != nil {
    package.targets.append(.target(name: "CFuzzing", path: "fuzz/Sources/CFuzzing"))
    package.targets.append(.executableTarget(
        name: "smartinf-fuzz", dependencies: ["FuzzTargets", "CFuzzing"], path: "fuzz/Sources/smartinf-fuzz"))
    package.products.append(.executable(name: "smartinf-fuzz", targets: ["smartinf-fuzz"]))
}
