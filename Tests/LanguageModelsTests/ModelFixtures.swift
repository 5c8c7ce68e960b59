// Shared fixtures: the real SmolLM2 checkpoint (fetched by Scripts/setup) loaded once, and tiny random
// Llama checkpoints written as safetensors for fast structural tests.
import Autograd
import Foundation
import ModelFormats
@testable import LanguageModels

enum Fixtures {
    static let home = ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
    static let smolLM2Path = home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// SmolLM2-135M-Instruct with dense Float32 weights (the GGUF's Q4_1/Q8_0 blocks decoded).
    static let smolLM2: Result<LlamaModel, Error> = Result { try LlamaModel.load(path: smolLM2Path) }

    struct Golden: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let top5_ids: [[Int]]
            let top5_logits: [[Float]]
            let greedy_ids: [Int]
            let greedy_margins: [Float]
        }
        let cases: [Case]
    }
    static func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: directory.appendingPathComponent("smollm2_goldens.json")))
    }

    /// Writes a random tiny Llama checkpoint (config.json + model.safetensors) and returns its directory.
    /// `edit` may drop, add or reshape tensors to build broken checkpoints.
    static func tinyCheckpoint(slidingWindow: Int? = nil, tied: Bool = false, seed: UInt64 = 1,
                               edit: (inout [SafetensorsTensor]) -> Void = { _ in }) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autore-tiny-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (v, c, f, layers, hq, hkv, d) = (67, 32, 48, 2, 4, 2, 8)
        var config: [String: Any] = [
            "model_type": slidingWindow == nil ? "llama" : "mistral", "vocab_size": v, "hidden_size": c,
            "intermediate_size": f, "num_hidden_layers": layers, "num_attention_heads": hq,
            "num_key_value_heads": hkv, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "tie_word_embeddings": tied, "max_position_embeddings": 256,
        ]
        if let slidingWindow { config["sliding_window"] = slidingWindow }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        var g = SplitMix64(seed: seed)
        func t(_ name: String, _ shape: [Int], std: Float = 0.2, mean: Float = 0) -> SafetensorsTensor {
            let n = shape.reduce(1, *)
            return SafetensorsTensor(name: name, shape: shape, values: (0..<n).map { _ in mean + std * g.nextNormal() })
        }
        var tensors = [t("model.embed_tokens.weight", [v, c], std: 1), t("model.norm.weight", [c], std: 0.1, mean: 1)]
        if !tied { tensors.append(t("lm_head.weight", [v, c])) }
        for i in 0..<layers {
            let p = "model.layers.\(i)"
            tensors += [
                t("\(p).input_layernorm.weight", [c], std: 0.1, mean: 1), t("\(p).post_attention_layernorm.weight", [c], std: 0.1, mean: 1),
                t("\(p).self_attn.q_proj.weight", [hq * d, c]), t("\(p).self_attn.k_proj.weight", [hkv * d, c]),
                t("\(p).self_attn.v_proj.weight", [hkv * d, c]), t("\(p).self_attn.o_proj.weight", [c, hq * d]),
                t("\(p).mlp.gate_proj.weight", [f, c]), t("\(p).mlp.up_proj.weight", [f, c]), t("\(p).mlp.down_proj.weight", [c, f]),
            ]
        }
        edit(&tensors)
        try SafetensorsWriter.write(tensors, to: dir + "/model.safetensors")
        return dir
    }
}

/// Largest |a − b| over two equally long arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
