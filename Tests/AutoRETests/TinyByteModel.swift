// A tiny random Llama with a byte-level vocabulary (256 bytes + end-of-text), so any prompt text runs
// through the real tokenizer, model and generation in milliseconds. No weights from anywhere.
import Autograd
import Foundation
import ModelFormats
import Tokenization

enum TinyByteModel {
    static let vocab = 257, endOfText = 256

    static func tokenizer() throws -> Tokenizer {
        let tokens = (0..<256).map { String(ByteLevel.byteToScalar[$0]) } + ["<|endoftext|>"]
        return Tokenizer(flavor: .byteLevel, model: BPEModel(tokens: tokens, merges: []), preTokenizer: GPT2PreTokenizer(),
                         specialTokens: ["<|endoftext|>": endOfText], controlTokenIds: [endOfText], eosTokenId: endOfText)
    }

    /// The directory of config.json + model.safetensors of a 2-layer model, written once per process
    /// (a static let: initialised once even when tests run in parallel).
    static func checkpoint() throws -> String { try written.get() }
    static let written = Result { try write() }

    static func write() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autore-tinybyte-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (v, c, f, layers, hq, hkv, d) = (vocab, 32, 48, 2, 4, 2, 8)
        let config: [String: Any] = [
            "model_type": "llama", "vocab_size": v, "hidden_size": c, "intermediate_size": f, "num_hidden_layers": layers,
            "num_attention_heads": hq, "num_key_value_heads": hkv, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "tie_word_embeddings": false, "max_position_embeddings": 4096, "eos_token_id": endOfText,
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        var g = Autograd.SplitMix64(seed: 5)
        func t(_ name: String, _ shape: [Int], std: Float = 0.2, mean: Float = 0) -> SafetensorsTensor {
            SafetensorsTensor(name: name, shape: shape, values: (0..<shape.reduce(1, *)).map { _ in mean + std * g.nextNormal() })
        }
        var tensors = [t("model.embed_tokens.weight", [v, c], std: 1), t("model.norm.weight", [c], std: 0.1, mean: 1), t("lm_head.weight", [v, c])]
        for i in 0..<layers {
            let p = "model.layers.\(i)"
            tensors += [
                t("\(p).input_layernorm.weight", [c], std: 0.1, mean: 1), t("\(p).post_attention_layernorm.weight", [c], std: 0.1, mean: 1),
                t("\(p).self_attn.q_proj.weight", [hq * d, c]), t("\(p).self_attn.k_proj.weight", [hkv * d, c]),
                t("\(p).self_attn.v_proj.weight", [hkv * d, c]), t("\(p).self_attn.o_proj.weight", [c, hq * d]),
                t("\(p).mlp.gate_proj.weight", [f, c]), t("\(p).mlp.up_proj.weight", [f, c]), t("\(p).mlp.down_proj.weight", [c, f]),
            ]
        }
        try SafetensorsWriter.write(tensors, to: dir + "/model.safetensors")
        return dir
    }
}
