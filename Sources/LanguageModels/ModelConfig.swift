// The shape of a Llama-family model (llama, mistral, qwen2), built from GGUF metadata or HF config.json.
// A plain value: no tensors, no weights. Unknown architectures are refused by name.

import Foundation
import ModelFormats

/// RoPE frequency scaling (HF `rope_scaling`).
public enum RopeScaling: Codable, Sendable, Equatable {
    /// Positions divided by `factor` (HF "linear").
    case linear(factor: Double)
    /// Llama-3.1 wavelength-dependent scaling (HF "llama3").
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
    /// Per-frequency divisors of the base inverse frequencies, as GGUF stores Llama-3 scaling
    /// (`rope_freqs.weight`, one value per rotated pair; llama.cpp's `freq_factors`).
    case frequencyFactors([Double])
}

public struct ModelConfigError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var reason: String
    public var description: String { "\(source): \(reason)" }
}

/// Hyper-parameters of a Llama-family decoder.
///
///     let cfg = try ModelConfig(gguf: GGUFFile(path: path))
///     cfg.headDim            // 64 for SmolLM2-135M
public struct ModelConfig: Codable, Sendable, Equatable {
    /// Architectures whose weights map onto our Llama implementation.
    public static let supportedArchitectures = ["llama", "mistral", "qwen2"]

    public var architecture: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var tiedEmbeddings: Bool
    /// Mistral's sliding attention window (nil: full attention).
    public var slidingWindow: Int?
    public var maxPositions: Int
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// Qwen2 has biases on q/k/v projections.
    public var attentionBias: Bool

    public init(architecture: String, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
                headCount: Int, kvHeadCount: Int? = nil, headDim: Int? = nil, rmsNormEps: Double = 1e-5,
                ropeTheta: Double = 10_000, ropeScaling: RopeScaling? = nil, tiedEmbeddings: Bool = false,
                slidingWindow: Int? = nil, maxPositions: Int = 2048, bosTokenId: Int? = nil, eosTokenId: Int? = nil,
                attentionBias: Bool? = nil) throws {
        guard Self.supportedArchitectures.contains(architecture) else {
            throw ModelConfigError(source: "model config", reason: "unsupported architecture '\(architecture)' (supported: \(Self.supportedArchitectures.joined(separator: ", ")))")
        }
        self.architecture = architecture
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.layerCount = layerCount; self.headCount = headCount
        self.kvHeadCount = kvHeadCount ?? headCount
        self.headDim = headDim ?? (headCount > 0 ? hiddenSize / headCount : 0)
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.ropeScaling = ropeScaling
        self.tiedEmbeddings = tiedEmbeddings; self.slidingWindow = slidingWindow; self.maxPositions = maxPositions
        self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId
        self.attentionBias = attentionBias ?? (architecture == "qwen2")
        try validate()
    }

    func validate() throws {
        func bad(_ r: String) -> ModelConfigError { ModelConfigError(source: "\(architecture) config", reason: r) }
        for (name, v) in [("vocab size", vocabSize), ("hidden size", hiddenSize), ("intermediate size", intermediateSize),
                          ("layer count", layerCount), ("head count", headCount), ("KV head count", kvHeadCount),
                          ("head dim", headDim), ("max positions", maxPositions)] where v <= 0 {
            throw bad("\(name) is \(v)")
        }
        guard headCount % kvHeadCount == 0 else { throw bad("\(headCount) heads are not a multiple of \(kvHeadCount) KV heads") }
        guard headDim % 2 == 0 else { throw bad("head dim \(headDim) is odd (RoPE rotates pairs)") }
        guard rmsNormEps > 0, ropeTheta > 0 else { throw bad("rms eps \(rmsNormEps) / rope theta \(ropeTheta) must be positive") }
    }

    /// From GGUF metadata (`{arch}.embedding_length`, `{arch}.block_count`, …). Tied embeddings when the
    /// file has no `output.weight`.
    public init(gguf: GGUFFile) throws {
        let m = gguf.metadata
        guard let arch = m["general.architecture"]?.string else {
            throw ModelConfigError(source: gguf.path, reason: "metadata has no general.architecture")
        }
        guard Self.supportedArchitectures.contains(arch) else {
            throw ModelConfigError(source: gguf.path, reason: "unsupported architecture '\(arch)' (supported: \(Self.supportedArchitectures.joined(separator: ", ")))")
        }
        func int(_ k: String) throws -> Int {
            guard let v = m["\(arch).\(k)"]?.int else { throw ModelConfigError(source: gguf.path, reason: "metadata key \(arch).\(k) is missing or not an integer") }
            return v
        }
        let heads = try int("attention.head_count")
        let hidden = try int("embedding_length")
        let vocab = m["\(arch).vocab_size"]?.int ?? m["tokenizer.ggml.tokens"]?.array?.count
            ?? gguf.tensor(named: "token_embd.weight")?.dimensions.last
        guard let vocab else { throw ModelConfigError(source: gguf.path, reason: "cannot tell the vocabulary size") }
        var scaling: RopeScaling? = nil
        if let t = m["\(arch).rope.scaling.type"]?.string, t == "linear", let f = m["\(arch).rope.scaling.factor"]?.double {
            scaling = .linear(factor: f)
        }
        if let factors = gguf.tensor(named: "rope_freqs.weight") {
            scaling = .frequencyFactors(gguf.floats(factors).map(Double.init))
        }
        try self.init(architecture: arch, vocabSize: vocab, hiddenSize: hidden,
                      intermediateSize: try int("feed_forward_length"), layerCount: try int("block_count"),
                      headCount: heads, kvHeadCount: m["\(arch).attention.head_count_kv"]?.int,
                      headDim: m["\(arch).attention.key_length"]?.int ?? m["\(arch).rope.dimension_count"]?.int,
                      rmsNormEps: m["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5,
                      ropeTheta: m["\(arch).rope.freq_base"]?.double ?? 10_000, ropeScaling: scaling,
                      tiedEmbeddings: gguf.tensor(named: "output.weight") == nil,
                      slidingWindow: m["\(arch).attention.sliding_window"]?.int,
                      maxPositions: m["\(arch).context_length"]?.int ?? 2048,
                      bosTokenId: m["tokenizer.ggml.bos_token_id"]?.int, eosTokenId: m["tokenizer.ggml.eos_token_id"]?.int,
                      attentionBias: gguf.tensor(named: "blk.0.attn_q.bias") != nil)
    }

    /// From a decoded HF config.json (`model_type` llama / mistral / qwen2).
    public init(hf c: HFConfig, source: String = "config.json") throws {
        guard let arch = c.modelType else { throw ModelConfigError(source: source, reason: "no model_type") }
        guard Self.supportedArchitectures.contains(arch) else {
            throw ModelConfigError(source: source, reason: "unsupported architecture '\(arch)' (supported: \(Self.supportedArchitectures.joined(separator: ", ")))")
        }
        func need(_ v: Int?, _ k: String) throws -> Int {
            guard let v else { throw ModelConfigError(source: source, reason: "\(k) is missing") }
            return v
        }
        var scaling: RopeScaling? = nil
        if let s = c.ropeScaling {
            switch s.kind {
            case "linear": scaling = .linear(factor: s.factor ?? 1)
            case "llama3":
                scaling = .llama3(factor: s.factor ?? 8, lowFreqFactor: s.lowFreqFactor ?? 1, highFreqFactor: s.highFreqFactor ?? 4,
                                  originalMaxPositions: s.originalMaxPositionEmbeddings ?? 8192)
            case nil, "default": scaling = nil
            case let other?: throw ModelConfigError(source: source, reason: "unsupported rope_scaling type '\(other)'")
            }
        }
        try self.init(architecture: arch, vocabSize: try need(c.vocabSize, "vocab_size"), hiddenSize: try need(c.hiddenSize, "hidden_size"),
                      intermediateSize: try need(c.intermediateSize, "intermediate_size"),
                      layerCount: try need(c.numHiddenLayers, "num_hidden_layers"),
                      headCount: try need(c.numAttentionHeads, "num_attention_heads"), kvHeadCount: c.numKeyValueHeads,
                      headDim: c.headDim, rmsNormEps: c.rmsNormEps ?? 1e-6, ropeTheta: c.ropeTheta ?? 10_000,
                      ropeScaling: scaling, tiedEmbeddings: c.tieWordEmbeddings ?? false,
                      slidingWindow: arch == "qwen2" ? nil : c.slidingWindow,
                      maxPositions: c.maxPositionEmbeddings ?? 2048, bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId)
    }
}
