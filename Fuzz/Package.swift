// swift-tools-version:6.0
// AutoRE-Swift's fuzz targets: one executable per reader, each a libFuzzer driver over the main package's
// library products. Not part of the main build: `Scripts/fuzz` builds this package with the address
// sanitizer and coverage instrumentation (a plain `swift build` of it would link no fuzzing engine).
import PackageDescription

/// The main package is the folder above this one; a path dependency's identity is that folder's name,
/// whatever the checkout is called.
let main = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "AutoRE")

func product(_ name: String) -> Target.Dependency { .product(name: name, package: main) }

/// One fuzz target: `fuzz-<name>` built from Sources/fuzz-<name>.
func fuzzer(_ name: String, _ products: [String], helpers: [Target.Dependency] = []) -> Target {
    .executableTarget(name: "fuzz-\(name)", dependencies: ["FuzzSupport"] + helpers + products.map(product),
                      swiftSettings: [.unsafeFlags(["-parse-as-library"]), .swiftLanguageMode(.v5)])
}

let package = Package(
    name: "AutoREFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzSupport", swiftSettings: [.swiftLanguageMode(.v5)]),
        // The input layout of the three parser targets, and the tokenizers of the two tokenizer targets.
        .target(name: "ParserFuzzing", dependencies: ["FuzzSupport", product("DocRE")], swiftSettings: [.swiftLanguageMode(.v5)]),
        .target(name: "TokenizerFuzzing", dependencies: ["FuzzSupport", product("ModelFormats"), product("Tokenization")],
                swiftSettings: [.swiftLanguageMode(.v5)]),
        fuzzer("gguf", ["ModelFormats", "Quantization", "Tokenization"]),
        fuzzer("safetensors", ["ModelFormats"]),
        fuzzer("peft", ["ModelFormats"]),
        fuzzer("checkpoint", ["ModelFormats"]),
        fuzzer("checkpoint-hdf5", ["ModelFormats", "Support"]),
        fuzzer("config", ["AutoRE"]),
        fuzzer("sweep", ["AutoRE"]),
        fuzzer("document", ["DocRE"]),
        fuzzer("predictions", ["DocRE"]),
        fuzzer("parse-relations", ["DocRE"], helpers: ["ParserFuzzing"]),
        fuzzer("parse-heads", ["DocRE"], helpers: ["ParserFuzzing"]),
        fuzzer("parse-triples", ["DocRE"], helpers: ["ParserFuzzing"]),
        fuzzer("tokenizer-encode", ["Tokenization"], helpers: ["TokenizerFuzzing"]),
        fuzzer("tokenizer-decode", ["Tokenization"], helpers: ["TokenizerFuzzing"]),
    ]
)
