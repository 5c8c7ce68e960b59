// Tiny random Llama checkpoints (config.json + model.safetensors, optionally a byte-level tokenizer.json)
// written to a temporary folder, for tests that need a real model file in milliseconds. Weights come from
// a seeded generator, nothing from anywhere else. Used by the test targets only.
import Autograd
import Foundation
import ModelFormats
import Support
import Tokenization

/// The shape of a tiny Llama and the seed of its weights.
///
///     let dir = try TinyLlama(vocabulary: 67).writeTemporary()           // config.json + model.safetensors
///     let byteModel = try TinyLlama.byteLevel(seed: 5).writeTemporary(withTokenizer: true)
public struct TinyLlama: Sendable {
    public var vocabulary = 67
    public var hidden = 32
    public var intermediate = 48
    public var layers = 2
    public var heads = 4
    public var kvHeads = 2
    public var maxPositions = 256
    public var tiedEmbeddings = false
    /// Set: a Mistral-type config with this attention window.
    public var slidingWindow: Int?
    /// The end-of-text token id written into config.json, if any.
    public var endOfText: Int?
    public var seed: UInt64 = 1

    public init(vocabulary: Int = 67, hidden: Int = 32, intermediate: Int = 48, layers: Int = 2, heads: Int = 4, kvHeads: Int = 2,
                maxPositions: Int = 256, tiedEmbeddings: Bool = false, slidingWindow: Int? = nil, endOfText: Int? = nil, seed: UInt64 = 1) {
        self.vocabulary = vocabulary; self.hidden = hidden; self.intermediate = intermediate; self.layers = layers
        self.heads = heads; self.kvHeads = kvHeads; self.maxPositions = maxPositions; self.tiedEmbeddings = tiedEmbeddings
        self.slidingWindow = slidingWindow; self.endOfText = endOfText; self.seed = seed
    }

    /// 256 byte tokens and `<|endoftext|>` (id 256): any text runs through the real tokenizer and model.
    public static func byteLevel(hidden: Int = 32, intermediate: Int = 48, maxPositions: Int = 4096, tiedEmbeddings: Bool = false,
                                 seed: UInt64 = 1) -> TinyLlama {
        TinyLlama(vocabulary: byteVocabulary, hidden: hidden, intermediate: intermediate, maxPositions: maxPositions,
                  tiedEmbeddings: tiedEmbeddings, endOfText: byteEndOfText, seed: seed)
    }
    public static let byteVocabulary = 257, byteEndOfText = 256

    /// The byte-level tokenizer of `byteLevel` models, in memory.
    public static func byteTokenizer() -> Tokenizer {
        let tokens = (0..<256).map { String(ByteLevel.byteToScalar[$0]) } + ["<|endoftext|>"]
        return Tokenizer(flavor: .byteLevel, model: BPEModel(tokens: tokens, merges: []), preTokenizer: GPT2PreTokenizer(),
                         specialTokens: ["<|endoftext|>": byteEndOfText], controlTokenIds: [byteEndOfText], eosTokenId: byteEndOfText)
    }

    /// The tensors of the checkpoint, each drawn from N(mean, std²) in a fixed order (embeddings, final norm,
    /// lm_head unless tied, then each layer's norms and projections).
    public func tensors() -> [SafetensorsTensor] {
        let (v, c, f, d) = (vocabulary, hidden, intermediate, hidden / heads)
        var g = SplitMix64(seed: seed)
        func t(_ name: String, _ shape: [Int], std: Float = 0.2, mean: Float = 0) -> SafetensorsTensor {
            SafetensorsTensor(name: name, shape: shape, values: (0..<shape.reduce(1, *)).map { _ in mean + std * g.nextNormal() })
        }
        var out = [t("model.embed_tokens.weight", [v, c], std: 1), t("model.norm.weight", [c], std: 0.1, mean: 1)]
        if !tiedEmbeddings { out.append(t("lm_head.weight", [v, c])) }
        for i in 0..<layers {
            let p = "model.layers.\(i)"
            out += [
                t("\(p).input_layernorm.weight", [c], std: 0.1, mean: 1), t("\(p).post_attention_layernorm.weight", [c], std: 0.1, mean: 1),
                t("\(p).self_attn.q_proj.weight", [heads * d, c]), t("\(p).self_attn.k_proj.weight", [kvHeads * d, c]),
                t("\(p).self_attn.v_proj.weight", [kvHeads * d, c]), t("\(p).self_attn.o_proj.weight", [c, heads * d]),
                t("\(p).mlp.gate_proj.weight", [f, c]), t("\(p).mlp.up_proj.weight", [f, c]), t("\(p).mlp.down_proj.weight", [c, f]),
            ]
        }
        return out
    }

    /// Writes config.json and model.safetensors (and, for a byte-level vocabulary, tokenizer.json and
    /// tokenizer_config.json when `withTokenizer`) into `dir`. `edit` may drop, add or reshape tensors to
    /// build broken checkpoints.
    public func write(to dir: String, withTokenizer: Bool = false, edit: (inout [SafetensorsTensor]) -> Void = { _ in }) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config: [String: Any] = [
            "model_type": slidingWindow == nil ? "llama" : "mistral", "vocab_size": vocabulary, "hidden_size": hidden,
            "intermediate_size": intermediate, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kvHeads, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "tie_word_embeddings": tiedEmbeddings, "max_position_embeddings": maxPositions,
        ]
        if let slidingWindow { config["sliding_window"] = slidingWindow }
        if let endOfText { config["eos_token_id"] = endOfText }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        var ts = tensors()
        edit(&ts)
        try SafetensorsWriter.write(ts, to: dir + "/model.safetensors")
        guard withTokenizer else { return }
        precondition(vocabulary == Self.byteVocabulary, "TinyLlama: a tokenizer.json is written for byte-level models only")
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(Character(ByteLevel.byteToScalar[b]))] = b }
        let tokenizer: [String: Any] = [
            "model": ["type": "BPE", "vocab": vocab, "merges": [String]()],
            "added_tokens": [["id": Self.byteEndOfText, "content": "<|endoftext|>", "special": true]],
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "decoder": ["type": "ByteLevel"],
        ]
        try JSONSerialization.data(withJSONObject: tokenizer).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        try JSONSerialization.data(withJSONObject: ["eos_token": "<|endoftext|>"]).write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
    }

    /// `write` into a new folder under the temporary directory; returns its path.
    public func writeTemporary(withTokenizer: Bool = false, edit: (inout [SafetensorsTensor]) -> Void = { _ in }) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autore-tiny-\(UUID().uuidString)").path
        try write(to: dir, withTokenizer: withTokenizer, edit: edit)
        return dir
    }
}
