// Where a base model comes from (a .gguf file, a checkpoint directory, or the cached SmolLM2 that
// Scripts/setup fetches) and one place that loads it with its tokenizer, Float32 or NF4.
// Not adapters: see StageAdapters.
import Foundation
import LanguageModels
import ModelFormats
import Tokenization

/// An error of the AutoRE layer: what went wrong, naming the file or value.
public struct AutoREError: Error, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A setting that cannot be used, naming the file (or the setting) it came from.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var reason: String
    public init(file: String, reason: String) { self.file = file; self.reason = reason }
    public var description: String { "\(file): \(reason)" }
}

public enum ModelLocation {
    public static var home: String { ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore") }
    public static let defaultName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    public static var defaultPath: String { home + "/models/" + defaultName }
    /// The models Scripts/setup caches, by short name: SmolLM2-135M-Instruct (the default) and Gemma 3 270M.
    public static let aliases = ["smollm2": defaultName, "gemma3": "gemma-3-270m-q4_k_m.gguf"]

    /// The Hugging Face names of the cached models (what a PEFT adapter records as its base).
    public static let huggingFaceNames = ["smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct", "gemma3": "google/gemma-3-270m"]

    /// The Hugging Face name of a cached model's alias; a path as given.
    public static func huggingFaceName(_ name: String) -> String { huggingFaceNames[name] ?? name }

    /// A path as given, or a cached model by its alias (nil: "smollm2").
    public static func resolve(_ name: String?) throws -> String {
        let cached = aliases[name ?? "smollm2"].map { home + "/models/" + $0 }
        let path = cached ?? name!
        guard FileManager.default.fileExists(atPath: path) else {
            throw AutoREError(cached != nil
                ? "the base model \(name ?? "smollm2") is not in \(path): run `bash Scripts/setup` first"
                : "no model at \(path)")
        }
        return path
    }

    /// The tokenizer of a .gguf file, a tokenizer.json, or a directory holding tokenizer.json.
    public static func tokenizer(at path: String) throws -> Tokenizer {
        if path.hasSuffix(".gguf") { return try Tokenizer(gguf: GGUFFile(path: path)) }
        var isDir: ObjCBool = false
        let isDirectory = FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
        return try Tokenizer(tokenizerJSON: isDirectory ? path + "/tokenizer.json" : path)
    }
}

/// A loaded base model with what generation needs around it.
///
///     let base = try LoadedModel("smollm2", quantization: .nf4(doubleQuantization: true))
///     let ids = base.tokenizer.encode("Hello")
public struct LoadedModel {
    public let path: String
    public let model: LlamaModel
    public let tokenizer: Tokenizer

    /// `name`: nil or "smollm2" (the cached default), "gemma3", or a path. `quantization`: `.none` (Float32),
    /// `.nf4` (the QLoRA base, quantized layer by layer as it is read) or `.native` (a GGUF's own blocks).
    public init(_ name: String?, quantization: WeightQuantization = .none) throws {
        path = try ModelLocation.resolve(name)
        model = try LlamaModel.load(path: path, quantization: quantization)
        tokenizer = try ModelLocation.tokenizer(at: path)
    }

    /// A model already in memory.
    public init(path: String, model: LlamaModel, tokenizer: Tokenizer) {
        self.path = path; self.model = model; self.tokenizer = tokenizer
    }

    /// A copy with a model of its own (the same weights, no adapters): what full fine-tuning trains, so that a
    /// base shared with other experiments stays as it was.
    public func copy() throws -> LoadedModel {
        LoadedModel(path: path, model: try model.copy(), tokenizer: tokenizer)
    }

    /// EOS and the chat template's end-of-turn token, where the vocabulary has them.
    public var stopTokens: Set<Int> {
        var s = Set<Int>()
        if let e = tokenizer.eosTokenId ?? model.config.eosTokenId { s.insert(e) }
        return s.union(tokenizer.endOfTurnTokenIds)
    }

    /// Token ids of a prompt for a plain continuation: BOS first when the tokenizer asks for it (Gemma; not
    /// SmolLM2) and the text does not already begin with it (a chat template may write it).
    public func promptIds(_ text: String) -> [Int] {
        let starts = tokenizer.bosTokenId.flatMap(tokenizer.token).map { text.hasPrefix($0) } ?? false
        return tokenizer.encode(text, addSpecialTokens: !starts)
    }

    /// The prompt as the model's chat template writes a single user turn (or as is).
    public func render(_ prompt: String, chat: Bool) throws -> String {
        guard chat else { return prompt }
        guard let template = tokenizer.chatTemplate else { throw AutoREError("\(path) names no chat template") }
        return template.render([ChatMessage(.user, prompt)], addGenerationPrompt: true)
    }
}
