// Hugging Face `config.json` of Llama-family checkpoints (llama, mistral, qwen2), decoded as written.
// Not a validated model config: LanguageModels.ModelConfig checks and normalises these fields.

import Foundation

/// `rope_scaling` of config.json: `{"rope_type" | "type": "linear" | "llama3" | …, "factor": …, …}`.
public struct HFRopeScaling: Codable, Sendable, Equatable {
    public var ropeType: String?
    public var type: String?
    public var factor: Double?
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?
    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, factor
        case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }
    /// `rope_type`, falling back to the older `type` key.
    public var kind: String? { ropeType ?? type }
}

/// The fields of config.json a Llama-family model needs; unknown keys are ignored.
public struct HFConfig: Codable, Sendable, Equatable {
    public var modelType: String?
    public var architectures: [String]?
    public var vocabSize: Int?
    public var hiddenSize: Int?
    public var intermediateSize: Int?
    public var numHiddenLayers: Int?
    public var numAttentionHeads: Int?
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var rmsNormEps: Double?
    public var ropeTheta: Double?
    public var ropeScaling: HFRopeScaling?
    public var tieWordEmbeddings: Bool?
    public var slidingWindow: Int?
    public var maxPositionEmbeddings: Int?
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// `eos_token_id` may be a list (Llama-3.x); all of them.
    public var eosTokenIds: [Int] = []

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", architectures, vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case tieWordEmbeddings = "tie_word_embeddings", slidingWindow = "sliding_window"
        case maxPositionEmbeddings = "max_position_embeddings", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads)
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        ropeScaling = try c.decodeIfPresent(HFRopeScaling.self, forKey: .ropeScaling)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings)
        slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings)
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId) {
            eosTokenId = one; eosTokenIds = [one]
        } else if let many = try? c.decodeIfPresent([Int].self, forKey: .eosTokenId) {
            eosTokenId = many.first; eosTokenIds = many
        }
    }

    /// Reads and decodes `path` (a config.json); errors name the file.
    public static func load(path: String) throws -> HFConfig {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw SafetensorsError(path: path, field: "file", reason: "cannot read config.json")
        }
        return try decode(d, path: path)
    }

    public static func decode(_ data: Data, path: String = "config.json") throws -> HFConfig {
        do { return try JSONDecoder().decode(HFConfig.self, from: data) }
        catch let DecodingError.typeMismatch(_, ctx), let DecodingError.dataCorrupted(ctx) {
            throw SafetensorsError(path: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."), reason: ctx.debugDescription)
        } catch {
            throw SafetensorsError(path: path, field: "file", reason: "\(error)")
        }
    }
}
