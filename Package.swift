// swift-tools-version:6.0
// AutoRE-Swift: QLoRA fine-tuning and document-level relation extraction over OpenBLAS.
// Layers are targets; each imports only the layers below it (see Docs/ARCHITECTURE.md).
import PackageDescription

/// Hot loops are written with bounds-checked Swift in debug builds and unchecked in release builds,
/// which is what every timed command and the test suite use. `-enable-testing` keeps `@testable`
/// imports working in release test builds.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo", "-enable-testing"], .when(configuration: .release)),
    .swiftLanguageMode(.v5),
]

/// The AVX2 instantiation of the quantized kernels: the same @inlinable bodies compiled with AVX2, FMA and
/// F16C, called only where the CPU reports those features (Quantization checks at run time).
#if arch(x86_64)
let avx2: [SwiftSetting] = fast + [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"])]
#else
let avx2: [SwiftSetting] = fast
#endif

let package = Package(
    name: "AutoRE",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "autore", targets: ["autore"]),
        .executable(name: "autore-bench", targets: ["autore-bench"]),
        .library(name: "AutoRE", targets: ["RHF", "Experiments", "Reporting"]),
        // The readers, as products for the fuzz package (Fuzz/, a path dependency reaches only products).
        .library(name: "ModelFormats", targets: ["ModelFormats"]),
        .library(name: "Quantization", targets: ["Quantization"]),
        .library(name: "Tokenization", targets: ["Tokenization"]),
        .library(name: "DocRE", targets: ["DocRE"]),
        .library(name: "Support", targets: ["Support"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),

        // The few utilities every layer may use: seeded RNG, atomic file writes, append-only line files, JSON Lines.
        .target(name: "Support", swiftSettings: fast),
        .target(name: "Autograd", dependencies: ["CBLAS", "Support"], swiftSettings: fast),
        // Fused products over quantized blocks (@inlinable), instantiated portably and for AVX2.
        .target(name: "QuantizedKernels", swiftSettings: fast),
        .target(name: "QuantizedKernelsAVX2", dependencies: ["QuantizedKernels"], swiftSettings: avx2),
        .target(name: "Quantization", dependencies: ["Autograd", "CBLAS", "QuantizedKernels", "QuantizedKernelsAVX2"], swiftSettings: fast),
        .target(name: "NeuralNet", dependencies: ["Autograd", "Quantization", "Support"], swiftSettings: fast),
        .target(name: "ModelFormats", dependencies: ["Autograd", "Quantization", "CHDF5", "Support"],
                swiftSettings: fast),
        .target(name: "Tokenization", dependencies: ["ModelFormats", .product(name: "Collections", package: "swift-collections")],
                swiftSettings: fast),
        .target(name: "LanguageModels", dependencies: ["Autograd", "NeuralNet", "ModelFormats", "Tokenization", "Support"],
                swiftSettings: fast),
        // The processes of a job (one, or many under mpirun) and their collective operations.
        .target(name: "Distributed", dependencies: ["CMPI", "Support"], swiftSettings: fast),
        .target(name: "FineTuning", dependencies: ["LanguageModels", "Support", "Distributed"], swiftSettings: fast),
        .target(name: "DocRE", dependencies: ["Support"], swiftSettings: fast),
        // The system: one base model with its stage adapters, prompt format, batched extraction.
        .target(name: "RHF", dependencies: ["FineTuning", "DocRE", "LanguageModels", "Distributed", "Support"], swiftSettings: fast),
        // Typed experiment configs, training and extraction runs, sweeps, results folders.
        .target(name: "Experiments", dependencies: ["RHF", "FineTuning", "DocRE", "Support", "Distributed", "Yams"], swiftSettings: fast),
        // The results model computed once; Markdown, CSV, LaTeX and SVG renderers; the study's prose from Data/report.
        .target(name: "Reporting", dependencies: ["Experiments", "RHF", "FineTuning", "DocRE", "Support"], swiftSettings: fast),
        .executableTarget(name: "autore", dependencies: [
            "Experiments", "Reporting", "RHF", "Support", "Distributed", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        // Benchmarks (kernels, generation, QLoRA steps, stems): not part of the product's tool.
        .executableTarget(name: "autore-bench", dependencies: [
            "Experiments", "RHF", "Distributed", "CBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),

        // Tiny random model checkpoints for the test targets (not part of any product).
        .target(name: "TestSupport", dependencies: ["ModelFormats", "Tokenization", "Support"], path: "Tests/TestSupport", swiftSettings: fast),
        .testTarget(name: "SupportTests", dependencies: ["Support"], swiftSettings: fast),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", .product(name: "Numerics", package: "swift-numerics")], swiftSettings: fast),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", .product(name: "Numerics", package: "swift-numerics")], exclude: ["Fixtures"], swiftSettings: fast),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"], exclude: ["Fixtures"], swiftSettings: fast),
        .testTarget(name: "ModelFormatsTests", dependencies: ["ModelFormats"], exclude: ["Fixtures"], swiftSettings: fast),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"], exclude: ["Fixtures"], swiftSettings: fast),
        .testTarget(name: "LanguageModelsTests", dependencies: ["LanguageModels", "FineTuning", "TestSupport"], exclude: ["Fixtures"], swiftSettings: fast),
        .testTarget(name: "FineTuningTests", dependencies: ["FineTuning", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "DocRETests", dependencies: ["DocRE", "Support"], swiftSettings: fast),
        .testTarget(name: "RHFTests", dependencies: ["RHF", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Reporting", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"], swiftSettings: fast),
        // Reads Docs/ARCHITECTURE.md and the import lines of Sources/: the target graph cannot drift from the docs.
        .testTarget(name: "ArchitectureTests", swiftSettings: fast),
        // Runs the built `autore` executable as a child process (kill and resume); `swift test` builds it.
        .testTarget(name: "CommandLineTests", dependencies: ["Autograd", "ModelFormats", "TestSupport"], swiftSettings: fast),
    ]
)
