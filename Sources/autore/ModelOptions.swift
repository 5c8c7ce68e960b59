// Options shared by the commands that run a base model (loading itself is AutoRE's `LoadedModel`).
import ArgumentParser
import DocRE
import Experiments
import Foundation
import LanguageModels
import ModelFormats
import RHF
import Tokenization

/// `--model`, shared by the commands that run a base model.
struct ModelChoice: ParsableArguments {
    @Option(help: "A .gguf file, a checkpoint directory, or a cached model: smollm2 (SmolLM2-135M-Instruct, the default) or gemma3 (Gemma 3 270M).")
    var model: String?
}

/// Prints an Encodable value as one JSON line.
func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

/// `--root`: where `Experiments/` and `Data/` are (default: $AUTORE_ROOT, else the current directory).
struct RootOption: ParsableArguments {
    @Option(help: "The experiments root, holding Experiments/ and Data/ (default: $AUTORE_ROOT, else the current directory).")
    var root: String?

    /// Makes `--root`, when given, the root of everything this process reads and writes.
    func apply() {
        if let root { DataLocation.root = URL(fileURLWithPath: root) }
    }
}
