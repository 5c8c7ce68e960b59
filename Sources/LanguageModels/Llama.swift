// The Llama-family decoder (Llama, Mistral, Qwen2, SmolLM, Gemma 3) built from NeuralNet modules, with
// checkpoint-named parameters. Training and prefill share `forward`; token-by-token decoding lives
// in Generation.swift. Not a loader: see WeightLoading.swift. Gemma 3 is the same modules with the
// config's switches on (scaled embedding, q/k norms, sandwich norms, GeGLU, local/global layers).
import Autograd
import Foundation
import NeuralNet

/// Keys and values of one layer, already rotated:  (1 or B, R, Hkv, D), row r at position `dropped` + r.
/// A local layer's decoding past may keep only its last rows (`LlamaModel.decodingPast`): positions before
/// `dropped` lie outside the window of every later token.
public struct LayerKV {
    public var k: Tensor
    public var v: Tensor
    /// Positions before row 0 that are not kept.
    public var dropped: Int
    public init(k: Tensor, v: Tensor, dropped: Int = 0) { self.k = k; self.v = v; self.dropped = dropped }
    /// Positions covered, the dropped ones included: the position of the next token.
    public var length: Int { dropped + k.shape[1] }
    /// Rows held.
    public var rows: Int { k.shape[1] }
}

/// A past that a forward call continues: one `LayerKV` per layer, (R, P, Hkv, D). Batch row b reads row
/// `rows[b]` (default: row 0 when R = 1, else row b) and the first `lengths[b]` positions (default all).
/// A call may continue several pasts in order: a document, then the shared stem of a group of questions.
public struct PastSegment {
    public var layers: [LayerKV]
    public var rows: [Int]?
    public var lengths: [Int]?
    public init(_ layers: [LayerKV], rows: [Int]? = nil, lengths: [Int]? = nil) {
        self.layers = layers; self.rows = rows; self.lengths = lengths
    }
    /// Positions batch row b reads.
    func seen(_ b: Int) -> Int { lengths?[b] ?? (layers.first?.length ?? 0) }
    /// Layer `layer`'s keys and values for attention. Attention counts positions from the first row it is
    /// given; a layer whose first rows were dropped is read as if the sequence began there, which changes
    /// nothing for queries whose window starts after them (scores depend on position differences only, and
    /// the keys are already rotated). Only a whole-row past (no `lengths`) may have dropped rows.
    func attention(_ layer: Int) -> AttentionPast {
        precondition(lengths == nil || layers[layer].dropped == 0, "a past read at per-row lengths must keep every position")
        return AttentionPast(k: layers[layer].k, v: layers[layer].v, rows: rows, lengths: lengths)
    }
}

/// Grouped-query self-attention with RoPE.
///
///     q = x·Wqᵀ (B,T,Hq,D)   k, v = x·Wkᵀ, x·Wvᵀ (B,T,Hkv,D)   → [q/k norm] → rope(q, k) → attention(past ++ new) → ·Woᵀ
///
/// Per layer: the window (nil: full causal), the RoPE base and schedule, and the score scale come from the
/// config (`window(layer:)`, `ropeTheta(layer:)`, `attentionScale`); with `queryKeyNorm`, q and k get an
/// RMSNorm over D (one (D) weight shared by the heads) before RoPE.
public final class LlamaAttention: Module {
    @Child("q_proj") public var qProj: Linear
    @Child("k_proj") public var kProj: Linear
    @Child("v_proj") public var vProj: Linear
    @Child("o_proj") public var oProj: Linear
    @Child("q_norm") public var qNorm: NeuralNet.RMSNorm?
    @Child("k_norm") public var kNorm: NeuralNet.RMSNorm?
    let config: ModelConfig
    let scaling: RoPEScaling
    /// This layer's attention window, RoPE base and score scale (nil: 1/√D).
    let window: Int?
    let theta: Float
    let scale: Float?

    init(config: ModelConfig, layer: Int = 0, q: Linear, k: Linear, v: Linear, o: Linear,
         qNorm: NeuralNet.RMSNorm? = nil, kNorm: NeuralNet.RMSNorm? = nil) {
        self.config = config
        self.scaling = config.ropeRotation(layer: layer)
        window = config.window(layer: layer)
        theta = Float(config.ropeTheta(layer: layer))
        scale = config.attentionScale
        qProj = q; kProj = k; vProj = v; oProj = o
        self.qNorm = qNorm; self.kNorm = kNorm
    }

    /// Rotated (and, with q/k norms, normalised) queries and keys and the values of x: (B, T, C) →
    /// q (B, T, Hq, D), k and v (B, T, Hkv, D).
    func project(_ x: Tensor, positions: [Int]) throws -> (q: Tensor, k: Tensor, v: Tensor) {
        let b = x.shape[0], t = x.shape[1], d = config.headDim
        var q = try qProj(x).reshaped([b, t, config.headCount, d])
        var k = try kProj(x).reshaped([b, t, config.kvHeadCount, d])
        let v = try vProj(x).reshaped([b, t, config.kvHeadCount, d])
        if let qNorm { q = try qNorm(q) }
        if let kNorm { k = try kNorm(k) }
        q = try rope(q, positions: positions, theta: theta, scaling: scaling)
        k = try rope(k, positions: positions, theta: theta, scaling: scaling)
        return (q, k, v)
    }

    /// x: (B, T, C), positions of the T new tokens → (output (B, T, C), this call's rotated k/v).
    func callAsFunction(_ x: Tensor, positions: [Int], pasts: [AttentionPast]) throws -> (Tensor, LayerKV) {
        let b = x.shape[0], t = x.shape[1], d = config.headDim
        let (q, k, v) = try project(x, positions: positions)
        let o = try causalAttention(q: q, k: k, v: v, pasts: pasts, window: window, scale: scale)
        return (try oProj(o.reshaped([b, t, config.headCount * d])), LayerKV(k: k, v: v))
    }
}

/// Gated feed-forward:  down(act(gate(x)) ⊙ up(x)), act = SiLU (SwiGLU) or tanh-GELU (GeGLU).
public final class LlamaMLP: UnaryLayer {
    @Child("gate_proj") public var gateProj: Linear
    @Child("up_proj") public var upProj: Linear
    @Child("down_proj") public var downProj: Linear
    let activation: HiddenActivation
    init(gate: Linear, up: Linear, down: Linear, activation: HiddenActivation = .silu) {
        self.activation = activation; gateProj = gate; upProj = up; downProj = down
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        switch activation {
        case .silu: try downProj(try silu(gateProj(x)) * upProj(x))
        case .geluTanh: try downProj(try geluTanh(gateProj(x)) * upProj(x))
        }
    }
}

/// One block. Pre-norm (Llama):  h = x + attn(norm₁(x));  y = h + mlp(norm₂(h)).
/// Sandwich (Gemma 3, when the pre/post feed-forward norms are present):
///     h = x + post_attention_norm(attn(input_norm(x)));  y = h + post_ff_norm(mlp(pre_ff_norm(h))).
/// The checkpoint names follow HF: Llama's norm before the MLP is `post_attention_layernorm`; in Gemma 3 that
/// key is the norm of the attention output and `pre_feedforward_layernorm` is the norm before the MLP.
public final class LlamaDecoderLayer: Module {
    @Child("self_attn") public var selfAttn: LlamaAttention
    @Child("mlp") public var mlp: LlamaMLP
    @Child("input_layernorm") public var inputLayernorm: NeuralNet.RMSNorm
    @Child("post_attention_layernorm") public var postAttentionLayernorm: NeuralNet.RMSNorm
    @Child("pre_feedforward_layernorm") public var preFeedforwardLayernorm: NeuralNet.RMSNorm?
    @Child("post_feedforward_layernorm") public var postFeedforwardLayernorm: NeuralNet.RMSNorm?
    init(attention: LlamaAttention, mlp: LlamaMLP, inputNorm: NeuralNet.RMSNorm, postNorm: NeuralNet.RMSNorm,
         preFeedforwardNorm: NeuralNet.RMSNorm? = nil, postFeedforwardNorm: NeuralNet.RMSNorm? = nil) {
        selfAttn = attention; self.mlp = mlp; inputLayernorm = inputNorm; postAttentionLayernorm = postNorm
        preFeedforwardLayernorm = preFeedforwardNorm; postFeedforwardLayernorm = postFeedforwardNorm
    }
    var isSandwich: Bool { preFeedforwardLayernorm != nil }

    /// The residual stream after attention:  x + a (pre-norm) or x + post_attention_norm(a) (sandwich).
    func addAttention(_ x: Tensor, _ a: Tensor) throws -> Tensor {
        isSandwich ? try x + postAttentionLayernorm(a) : try x + a
    }
    /// The residual stream after the MLP:  h + mlp(norm₂(h)) or h + post_ff_norm(mlp(pre_ff_norm(h))).
    func addFeedForward(_ h: Tensor) throws -> Tensor {
        if let pre = preFeedforwardLayernorm, let post = postFeedforwardLayernorm {
            return try h + post(mlp(pre(h)))
        }
        return try h + mlp(postAttentionLayernorm(h))
    }
    func callAsFunction(_ x: Tensor, positions: [Int], pasts: [AttentionPast]) throws -> (Tensor, LayerKV) {
        let (a, kv) = try selfAttn(inputLayernorm(x), positions: positions, pasts: pasts)
        return (try addFeedForward(addAttention(x, a)), kv)
    }
}

/// Makes a checkpointed block draw the same dropout masks when backward recomputes it: the first run
/// notes where the block's dropout generators start; a later run rewinds them there, and afterwards puts
/// them back where the rest of the step has taken them since.
final class DropoutReplay {
    let dropouts: [Dropout]
    var start: [UInt64]?
    init(_ block: any Module) { dropouts = block.namedModules().compactMap { $0.1 as? Dropout } }
    func run<R>(_ body: () throws -> R) rethrows -> R {
        guard let start else {
            start = dropouts.map(\.generator.state)
            return try body()
        }
        let now = dropouts.map(\.generator.state)
        for (d, s) in zip(dropouts, start) { d.generator.state = s }
        defer { for (d, s) in zip(dropouts, now) { d.generator.state = s } }
        return try body()
    }
}

/// The transformer body, under the checkpoint prefix `model.`.
public final class LlamaBody: Module {
    @Child("embed_tokens") public var embedTokens: Embedding
    @Child("layers") public var layers: [LlamaDecoderLayer]
    @Child("norm") public var norm: NeuralNet.RMSNorm
    init(embed: Embedding, layers: [LlamaDecoderLayer], norm: NeuralNet.RMSNorm) {
        embedTokens = embed; self.layers = layers; self.norm = norm
    }
}

/// A Llama-family causal language model:  ids → embed → N × block → norm → lm_head (or tied embedding).
///
///     let model = try LlamaModel.load(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
///     let out = try model.forward(ids: ids, batch: 1, length: ids.count)
///     let logits = try model.logits(out.hidden)          // (B, T, V)
public final class LlamaModel: Module {
    @Child("model") public var body: LlamaBody
    @Child("lm_head") public var lmHead: Linear?
    public let config: ModelConfig
    /// Recompute each block in backward instead of keeping its activations (training only).
    public var checkpointBlocks = false
    /// Constrained greedy decoding computes the head at the allowed tokens only, where the head can give
    /// exactly the values of the whole product (`logits(_:only:)`); false computes every logit (the same tokens
    /// come out, more slowly: for comparisons).
    public var headAtAllowedTokensOnly = true

    public init(config: ModelConfig, body: LlamaBody, lmHead: Linear?) {
        self.config = config; self.body = body; self.lmHead = lmHead
    }

    /// Runs the blocks over B sequences of T new tokens each (ids row-major (B, T)) that continue a
    /// past of P tokens (`past`: one `LayerKV` per layer, batch 1 or B). Returns the final hidden states
    /// (B, T, C) after the last norm and this call's rotated keys/values per layer (B, T, Hkv, D).
    public func forward(ids: [Int32], batch: Int, length: Int, past: [LayerKV]? = nil,
                        positions: [Int]? = nil) throws -> (hidden: Tensor, present: [LayerKV]) {
        try forward(ids: ids, batch: batch, length: length, pasts: past.map { [PastSegment($0)] } ?? [], positions: positions)
    }

    /// `forward` continuing several pasts in order (a prefix tree: see `PastSegment`). Batch row b's
    /// tokens sit at positions (Σ positions it reads in the pasts) + j unless `positions` (B·T) are given.
    public func forward(ids: [Int32], batch: Int, length: Int, pasts: [PastSegment],
                        positions: [Int]? = nil) throws -> (hidden: Tensor, present: [LayerKV]) {
        guard batch > 0, length > 0, ids.count == batch * length else {
            throw TensorError("LlamaModel.forward: \(ids.count) ids for batch \(batch) × length \(length)")
        }
        if let bad = pasts.first(where: { $0.layers.count != body.layers.count }) {
            throw TensorError("LlamaModel.forward: past has \(bad.layers.count) layers, model has \(body.layers.count)")
        }
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw TensorError("LlamaModel.forward: token id \(bad) outside the vocabulary of \(config.vocabSize)")
        }
        let starts = (0..<batch).map { b in pasts.reduce(0) { $0 + $1.seen(b) } }
        let positions = positions ?? (Set(starts).count == 1 ? Array(starts[0]..<(starts[0] + length))
                                                              : starts.flatMap { Array($0..<($0 + length)) })
        var h = try embed(ids, shape: [batch, length])
        var present: [LayerKV] = []
        present.reserveCapacity(body.layers.count)
        for (i, layer) in body.layers.enumerated() {
            let layerPasts = pasts.map { $0.attention(i) }
            if checkpointBlocks && isGradEnabled {
                // The block's output and its k/v are all tape outputs, recomputed together in backward, so
                // a caller may reuse the k/v as a differentiable past (answerLoss's shared prefix).
                let inputs = [h] + layerPasts.flatMap { [$0.k, $0.v] }
                let replay = DropoutReplay(layer)
                let outs = try checkpoint(inputs, outputs: { xs in
                    try replay.run {
                        let again = layerPasts.enumerated().map { j, p in
                            AttentionPast(k: xs[1 + 2 * j], v: xs[2 + 2 * j], rows: p.rows, lengths: p.lengths)
                        }
                        let (y, kv) = try layer(xs[0], positions: positions, pasts: again)
                        return [y, kv.k, kv.v]
                    }
                })
                h = outs[0]
                present.append(LayerKV(k: outs[1], v: outs[2]))
            } else {
                let (y, kv) = try layer(h, positions: positions, pasts: layerPasts)
                h = y
                present.append(kv)
            }
        }
        return (try body.norm(h), present)
    }

    /// The keys and values of `ids` (one sequence) as a past to decode after: global layers keep every
    /// position; a local layer keeps its last `window` rows, all that a token after them can attend to
    /// (position P + i sees P + i − W + 1 … P + i). No tape.
    ///
    ///     let document = try model.decodingPast(ids: documentIds)      // Gemma 3: 15 of 18 layers ≤ 512 rows
    ///     let answers = try model.generate(groups: [PromptGroup(prefix: documentIds, prompts: qs)], options: o,
    ///                                      prefixStates: [0: document])
    public func decodingPast(ids: [Int]) throws -> [LayerKV] {
        try withNoGrad {
            let present = try forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).present
            return present.enumerated().map { l, kv in windowed(kv, layer: l) }
        }
    }

    /// `past` (one sequence, from `decodingPast`) continued by `ids`: one past holding both, windowed as
    /// `decodingPast`'s. The shared stem of several questions after their document is run once so.
    ///
    ///     let stem = try model.decodingPast(ids: stemIds, after: document)   // length = document + stem
    public func decodingPast(ids: [Int], after past: [LayerKV]) throws -> [LayerKV] {
        guard !ids.isEmpty else { return past }
        return try withNoGrad {
            let present = try forward(ids: ids.map(Int32.init), batch: 1, length: ids.count, past: past).present
            return present.enumerated().map { l, kv in
                let before = past[l], width = kv.k.shape[2] * kv.k.shape[3]
                precondition(before.k.shape[0] == 1, "decodingPast(after:): a past of one sequence")
                func joined(_ a: Tensor, _ b: Tensor) -> Tensor {
                    let out = Tensor.uninitialized([1, before.rows + kv.rows, kv.k.shape[2], kv.k.shape[3]])
                    out.data.update(from: a.data, count: before.rows * width)
                    (out.data + before.rows * width).update(from: b.data, count: kv.rows * width)
                    return out
                }
                return windowed(LayerKV(k: joined(before.k, kv.k), v: joined(before.v, kv.v), dropped: before.dropped), layer: l)
            }
        }
    }

    /// `kv` (1, P, Hkv, D) with only the rows layer `l`'s window still sees from position P on (a copy of the
    /// last W rows of a local layer; `kv` itself when nothing would be dropped).
    func windowed(_ kv: LayerKV, layer l: Int) -> LayerKV {
        guard let w = config.window(layer: l), kv.rows > w, kv.k.shape[0] == 1 else { return kv }
        let width = kv.k.shape[2] * kv.k.shape[3], first = kv.rows - w
        func last(_ t: Tensor) -> Tensor {
            let out = Tensor.uninitialized([1, w, kv.k.shape[2], kv.k.shape[3]])
            out.data.update(from: t.data + first * width, count: w * width)
            return out
        }
        return LayerKV(k: last(kv.k), v: last(kv.v), dropped: kv.dropped + first)
    }

    /// Token embeddings (shape + [C]), times the config's embedding scale when it has one (Gemma: √C, rounded
    /// to Float as HF rounds it to the weight's dtype).
    func embed(_ ids: [Int32], shape: [Int]) throws -> Tensor {
        let h = try body.embedTokens(ids, shape: shape)
        guard let s = config.embeddingScale else { return h }
        return h * Float(s)
    }

    /// Rows of logits computed at once where many rows need the head (training losses, scoring): chunks of
    /// about 2²⁵ logits, 128 MB (Gemma 3's 262,144-token head: 128 rows; SmolLM2's 49,152: 682 rows).
    public var headChunkRows: Int { max(1, (1 << 25) / config.vocabSize) }

    /// Logits (…, V) of final hidden states (…, C): lm_head, or the tied embedding table.
    public func logits(_ hidden: Tensor) throws -> Tensor {
        if let lmHead { return try lmHead(hidden) }
        return try matmul(hidden, body.embedTokens.weight.value, transposeB: true)
    }

    /// The logits of final hidden states (n, C), n ≤ 16, at the token ids `ids` only: (n, ids.count), equal
    /// bit for bit to those columns of `logits(hidden)`. Nil where the head cannot promise that: a Float32
    /// head (the tied embedding table of an NF4 or Float32 base) is one sgemm over every token, and then the
    /// caller computes them all. A head in GGML or NF4 blocks reads only the rows it is asked for.
    public func logits(_ hidden: Tensor, only ids: [Int]) -> Tensor? {
        lmHead?.selectedOutputs(hidden, ids: ids)
    }
}

extension ModelConfig {
    /// The rotation schedule of layer `i`: local layers with a base of their own are not rescaled (HF Gemma 3's
    /// `rotary_emb_local`), every other layer uses `ropeRotation`.
    public func ropeRotation(layer i: Int) -> RoPEScaling {
        isLocal(layer: i) && localRopeTheta != nil ? .none : ropeRotation
    }

    /// The rotation schedule our RoPE kernel applies for this config's HF `rope_scaling`.
    /// llama3: HF `_compute_llama3_parameters` (wavelength-dependent division of the frequencies).
    public var ropeRotation: RoPEScaling {
        switch ropeScaling {
        case nil: return .none
        case .linear(let f): return .linear(factor: Float(f))
        case .frequencyFactors(let ff):
            return .inverseFrequencies(ff.enumerated().map { i, f in
                Float(Foundation.pow(ropeTheta, -Double(2 * i) / Double(headDim)) / f)
            })
        case .llama3(let factor, let low, let high, let original):
            let half = headDim / 2
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            return .inverseFrequencies((0..<half).map { i in
                let f = Foundation.pow(ropeTheta, -Double(2 * i) / Double(headDim))
                let wavelength = 2 * Double.pi / f
                if wavelength < highWavelength { return Float(f) }
                if wavelength > lowWavelength { return Float(f / factor) }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return Float((1 - smooth) * f / factor + smooth * f)
            })
        }
    }
}
