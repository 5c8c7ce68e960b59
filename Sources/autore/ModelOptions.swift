// How commands name a base model: a .gguf file, a checkpoint directory, or the default SmolLM2 in the
// cache that Scripts/setup fills. One place that loads a model with its tokenizer and stop tokens.
import ArgumentParser
import Foundation
import LanguageModels
import ModelFormats
import Tokenization

enum ModelLocation {
    static var home: String { ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore") }
    static let defaultName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    static var defaultPath: String { home + "/models/" + defaultName }

    /// A path as given, or the default model when `name` is nil or "smollm2".
    static func resolve(_ name: String?) throws -> String {
        let path = (name == nil || name == "smollm2") ? defaultPath : name!
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError(path == defaultPath
                ? "the base model is not in \(path): run `bash Scripts/setup` first"
                : "no model at \(path)")
        }
        return path
    }

    /// The tokenizer of a .gguf file, a tokenizer.json, or a directory holding tokenizer.json.
    static func tokenizer(at path: String) throws -> Tokenizer {
        if path.hasSuffix(".gguf") { return try Tokenizer(gguf: GGUFFile(path: path)) }
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        return try Tokenizer(tokenizerJSON: isDir.boolValue ? path + "/tokenizer.json" : path)
    }
}

/// `--model`, shared by the commands that run a base model.
struct ModelChoice: ParsableArguments {
    @Option(help: "A .gguf file or a checkpoint directory (default: SmolLM2-135M-Instruct from the cache).")
    var model: String?
}

/// A loaded base model with what generation needs around it.
struct LoadedModel {
    let path: String
    let model: LlamaModel
    let tokenizer: Tokenizer

    /// `quantization`: "none" (Float32) or "nf4" (the QLoRA base).
    init(_ name: String?, quantization: String = "none", doubleQuantization: Bool = true) throws {
        path = try ModelLocation.resolve(name)
        switch quantization {
        case "none": model = try LlamaModel.load(path: path)
        case "nf4": model = try LlamaModel.load(path: path, linear: LlamaModel.nf4Linear(doubleQuantization: doubleQuantization))
        default: throw ValidationError("unknown quantization '\(quantization)' (none or nf4)")
        }
        tokenizer = try ModelLocation.tokenizer(at: path)
    }

    /// EOS and the chat template's end-of-turn token, where the vocabulary has them.
    var stopTokens: Set<Int> {
        var s = Set<Int>()
        if let e = tokenizer.eosTokenId ?? model.config.eosTokenId { s.insert(e) }
        return s.union(tokenizer.endOfTurnTokenIds)
    }

    /// The prompt as the model's chat template writes a single user turn (or as is).
    func render(_ prompt: String, chat: Bool) throws -> String {
        guard chat else { return prompt }
        guard let template = tokenizer.chatTemplate else { throw ValidationError("\(path) names no chat template") }
        return template.render([ChatMessage(.user, prompt)], addGenerationPrompt: true)
    }
}

/// Prints an Encodable value as one JSON line.
func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}
