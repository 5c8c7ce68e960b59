// The shape of a Llama-family model (llama, mistral, qwen2, gemma3), built from GGUF metadata or HF config.json.
// A plain value: no tensors, no weights. Unknown architectures are refused by name. Gemma 3's departures
// from Llama are fields of their own (embedding scale, (1 + w) norms, sandwich norms, q/k norms, GeGLU,
// attention scale, local/global layers), so the model code reads them instead of comparing names.

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

/// The MLP's gate activation: SwiGLU (Llama) or GeGLU with the tanh-approximated GELU (Gemma).
public enum HiddenActivation: String, Codable, Sendable, Equatable {
    case silu
    case geluTanh = "gelu_pytorch_tanh"
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
    public static let supportedArchitectures = ["llama", "mistral", "qwen2", "gemma3"]

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

    // Gemma 3 (all off for llama, mistral, qwen2)
    /// Embeddings are multiplied by this (Gemma: √hidden, HF `Gemma3TextScaledWordEmbedding`).
    public var embeddingScale: Double?
    /// RMSNorm multiplies by (1 + w) with w the checkpoint's weight (HF Gemma convention). The loader adds
    /// the 1 to every norm weight once, so the norm layers themselves stay `x̂ ⊙ w`.
    public var normAddsOne: Bool
    /// Norms on both sides of attention and MLP:  h = x + norm(attn(norm(x)));  y = h + norm(mlp(norm(h))).
    public var sandwichNorms: Bool
    /// Per-head RMSNorm (over D) of queries and keys before RoPE.
    public var queryKeyNorm: Bool
    /// The MLP gate's activation.
    public var activation: HiddenActivation
    /// Attention scores are scaled by this^-½ (Gemma `query_pre_attn_scalar`); nil: the head dim.
    public var queryPreAttentionScalar: Double?
    /// With a sliding window: every n-th layer (n−1, 2n−1, …) is global (full attention, `ropeTheta`),
    /// the others local (window, `localRopeTheta`). nil: every layer uses the window (Mistral).
    public var slidingWindowPattern: Int?
    /// RoPE base of the local layers (Gemma 3: 10,000); nil: `ropeTheta`.
    public var localRopeTheta: Double?

    public init(architecture: String, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
                headCount: Int, kvHeadCount: Int? = nil, headDim: Int? = nil, rmsNormEps: Double = 1e-5,
                ropeTheta: Double = 10_000, ropeScaling: RopeScaling? = nil, tiedEmbeddings: Bool = false,
                slidingWindow: Int? = nil, maxPositions: Int = 2048, bosTokenId: Int? = nil, eosTokenId: Int? = nil,
                attentionBias: Bool? = nil, embeddingScale: Double? = nil, normAddsOne: Bool = false,
                sandwichNorms: Bool = false, queryKeyNorm: Bool = false, activation: HiddenActivation = .silu,
                queryPreAttentionScalar: Double? = nil, slidingWindowPattern: Int? = nil, localRopeTheta: Double? = nil) throws {
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
        self.embeddingScale = embeddingScale; self.normAddsOne = normAddsOne; self.sandwichNorms = sandwichNorms
        self.queryKeyNorm = queryKeyNorm; self.activation = activation; self.queryPreAttentionScalar = queryPreAttentionScalar
        self.slidingWindowPattern = slidingWindowPattern; self.localRopeTheta = localRopeTheta
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
        if let w = slidingWindow, w < 1 { throw bad("sliding window \(w) must be ≥ 1") }
        if let n = slidingWindowPattern, n < 1 { throw bad("sliding window pattern \(n) must be ≥ 1") }
        if let s = queryPreAttentionScalar, !(s > 0) { throw bad("query_pre_attn_scalar \(s) must be positive") }
        if let t = localRopeTheta, !(t > 0) { throw bad("local rope theta \(t) must be positive") }
    }

    /// Whether layer `i` attends within the sliding window (Mistral: every layer; Gemma 3: five in six).
    public func isLocal(layer i: Int) -> Bool {
        guard slidingWindow != nil else { return false }
        guard let n = slidingWindowPattern else { return true }
        return (i + 1) % n != 0
    }
    /// The attention window of layer `i` (nil: full causal attention).
    public func window(layer i: Int) -> Int? { isLocal(layer: i) ? slidingWindow : nil }
    /// The RoPE base of layer `i`.
    public func ropeTheta(layer i: Int) -> Double { isLocal(layer: i) ? (localRopeTheta ?? ropeTheta) : ropeTheta }
    /// The attention score scale when it is not 1/√D (nil: the kernel's default 1/√D).
    public var attentionScale: Float? { queryPreAttentionScalar.map { Float(1 / $0.squareRoot()) } }

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
        if arch == "gemma3" {
            // What the GGUF does not store, as llama.cpp (`LLM_ARCH_GEMMA3` in llama-model.cpp) and HF's
            // Gemma3TextConfig fix it for the 270M–12B models: one global layer in six
            // (`set_swa_pattern(6)`, `sliding_window_pattern = 6`), local RoPE base 10,000
            // (`rope_freq_base_train_swa`, `rope_local_base_freq`), scores scaled by head_dim^-½
            // (`query_pre_attn_scalar` = 256 = head_dim of the 270M model).
            embeddingScale = Double(hidden).squareRoot()
            normAddsOne = true; sandwichNorms = true; queryKeyNorm = true; activation = .geluTanh
            queryPreAttentionScalar = Double(headDim)
            slidingWindowPattern = 6
            localRopeTheta = 10_000
            try validate()
        }
    }

    /// From a decoded HF config.json (`model_type` llama / mistral / qwen2).
    public init(hf c: HFConfig, source: String = "config.json") throws {
        guard let arch = c.modelType else { throw ModelConfigError(source: source, reason: "no model_type") }
        guard Self.supportedArchitectures.contains(arch), arch != "gemma3" else {
            throw ModelConfigError(source: source, reason: "unsupported architecture '\(arch)' in config.json (supported: llama, mistral, qwen2; gemma3 loads from GGUF)")
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
