// Gemma 3 on a tiny random model held in memory (no weights, no network): the config's per-layer windows
// and RoPE bases, strict loading of its extra norms, and the metamorphic checks of inference (KV cache
// equals recomputation, also with a windowed document past and ring buffers in local layers; batched and
// shared-prefix generation equal one at a time) with local and global layers whose windows differ. The real model's parity with transformers is in GemmaParityTests.
import Autograd
import Foundation
import Support
import Testing
@testable import LanguageModels

/// Tensors under HF names, in memory.
final class MemoryWeights: WeightSource {
    var tensors: [String: (shape: [Int], values: [Float])] = [:]
    let path = "memory"
    var names: [String] { tensors.keys.sorted() }
    func shape(_ name: String) -> [Int]? { tensors[name]?.shape }
    func floats(_ name: String) throws -> [Float] {
        guard let t = tensors[name] else { throw WeightLoadingError(source: path, reason: "no tensor for \(name)") }
        return t.values
    }
}

enum TinyGemma {
    /// 4 layers (pattern 2: layers 1 and 3 global), window 3, 4 query heads on 2 KV heads of dim 8,
    /// query_pre_attn_scalar 6 (not the head dim, so a wrong scale shows), local RoPE base 10⁴, global 10⁶.
    static func config(window: Int = 3, pattern: Int = 2) throws -> ModelConfig {
        try ModelConfig(architecture: "gemma3", vocabSize: 67, hiddenSize: 16, intermediateSize: 24, layerCount: 4,
                        headCount: 4, kvHeadCount: 2, headDim: 8, rmsNormEps: 1e-6, ropeTheta: 1e6, tiedEmbeddings: true,
                        slidingWindow: window, maxPositions: 256, bosTokenId: 2, eosTokenId: 1,
                        embeddingScale: Double(16).squareRoot(), normAddsOne: true, sandwichNorms: true, queryKeyNorm: true,
                        activation: .geluTanh, queryPreAttentionScalar: 6, slidingWindowPattern: pattern, localRopeTheta: 10_000)
    }

    /// Random weights under HF Gemma 3 names; norm weights are w (the model applies 1 + w).
    static func weights(_ c: ModelConfig, seed: UInt64 = 7) -> MemoryWeights {
        var g = SplitMix64(seed: seed)
        let w = MemoryWeights()
        func put(_ name: String, _ shape: [Int], _ scale: Float) {
            w.tensors[name] = (shape, Tensor.uniform(shape, low: -scale, high: scale, generator: &g).scalars)
        }
        let (h, hd, f) = (c.hiddenSize, c.headDim, c.intermediateSize)
        put("model.embed_tokens.weight", [c.vocabSize, h], 1)
        put("model.norm.weight", [h], 0.3)
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)"
            put("\(p).self_attn.q_proj.weight", [c.headCount * hd, h], 0.4)
            put("\(p).self_attn.k_proj.weight", [c.kvHeadCount * hd, h], 0.4)
            put("\(p).self_attn.v_proj.weight", [c.kvHeadCount * hd, h], 0.4)
            put("\(p).self_attn.o_proj.weight", [h, c.headCount * hd], 0.3)
            put("\(p).self_attn.q_norm.weight", [hd], 0.3)
            put("\(p).self_attn.k_norm.weight", [hd], 0.3)
            put("\(p).mlp.gate_proj.weight", [f, h], 0.4)
            put("\(p).mlp.up_proj.weight", [f, h], 0.4)
            put("\(p).mlp.down_proj.weight", [h, f], 0.3)
            for n in ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"] {
                put("\(p).\(n).weight", [h], 0.3)
            }
        }
        return w
    }

    static func model(window: Int = 3, pattern: Int = 2, seed: UInt64 = 7) throws -> LlamaModel {
        let c = try config(window: window, pattern: pattern)
        return try LlamaModel.load(config: c, weights: weights(c, seed: seed))
    }
}

@Suite struct GemmaTests {
    @Test func layersAlternateLocalAndGlobal() throws {
        let c = try TinyGemma.config(window: 3, pattern: 2)
        #expect((0..<4).map { c.window(layer: $0) } == [3, nil, 3, nil])
        #expect((0..<4).map { c.ropeTheta(layer: $0) } == [10_000, 1e6, 10_000, 1e6])
        #expect(c.attentionScale == Float(1 / Double(6).squareRoot()))
        // Mistral: one window for every layer, one RoPE base, the kernel's default scale
        let m = try ModelConfig(architecture: "mistral", vocabSize: 10, hiddenSize: 8, intermediateSize: 8, layerCount: 3,
                                headCount: 2, slidingWindow: 5)
        #expect((0..<3).map { m.window(layer: $0) } == [5, 5, 5] && m.ropeTheta(layer: 2) == m.ropeTheta && m.attentionScale == nil)
    }

    @Test func modulesFollowTheConfig() throws {
        let model = try TinyGemma.model()
        let layer = model.body.layers[0]
        #expect(layer.selfAttn.qNorm != nil && layer.selfAttn.kNorm != nil && layer.isSandwich)
        #expect(layer.selfAttn.window == 3 && model.body.layers[1].selfAttn.window == nil)
        #expect(layer.mlp.activation == .geluTanh)
        // the norms apply 1 + w: the loaded weight is the stored one plus 1
        let stored = try TinyGemma.weights(model.config).floats("model.layers.0.pre_feedforward_layernorm.weight")
        #expect(layer.preFeedforwardLayernorm!.weight.value.scalars == stored.map { $0 + 1 })
        let names = Set(model.namedParameters().map(\.0))
        for n in ["model.layers.2.self_attn.q_norm.weight", "model.layers.2.self_attn.k_norm.weight",
                  "model.layers.2.pre_feedforward_layernorm.weight", "model.layers.2.post_feedforward_layernorm.weight"] {
            #expect(names.contains(n), "\(n)")
        }
        #expect(!names.contains("lm_head.weight"))
    }

    @Test func missingGemmaNormIsNamed() throws {
        let c = try TinyGemma.config()
        let w = TinyGemma.weights(c)
        w.tensors["model.layers.3.self_attn.k_norm.weight"] = nil
        #expect { _ = try LlamaModel.load(config: c, weights: w) } throws: { "\($0)".contains("missing tensor model.layers.3.self_attn.k_norm.weight") }
    }

    /// Logits of every position by one full forward pass.   → (T, V)
    func fullLogits(_ model: LlamaModel, _ ids: [Int]) throws -> [Float] {
        try withNoGrad { try model.logits(model.forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).hidden).scalars }
    }

    /// Prefill `ids[..<split]` as a shared prefix, then decode the rest one token at a time with the KV cache.
    func cachedLogits(_ model: LlamaModel, _ ids: [Int], split: Int) throws -> [Float] {
        try withNoGrad {
            let prefix = try model.forward(ids: ids[..<split].map(Int32.init), batch: 1, length: split)
            let cache = SequenceCache(prefixes: [prefix.present], prefixOf: [0], layers: model.config.layerCount, capacity: ids.count,
                                      kvHeads: model.config.kvHeadCount, headDim: model.config.headDim)
            var out = try model.logits(prefix.hidden).scalars
            for t in split..<ids.count {
                out += try model.decodeStep(tokens: [Int32(ids[t])], sequences: [0], cache: cache).scalars
            }
            return out
        }
    }

    /// The KV cache equals recomputation past the window: decode honours each layer's own window (local 3,
    /// global none), as the full pass does.
    @Test func kvCacheEqualsRecomputationWithLocalAndGlobalLayers() throws {
        let model = try TinyGemma.model()
        let ids = (0..<23).map { ($0 * 7 + 3) % 67 }
        let full = try fullLogits(model, ids), cached = try cachedLogits(model, ids, split: 6)
        let diff = maxAbsDiff(full, cached)
        #expect(diff <= 1e-4, "max diff \(diff)")
        // Not vacuous: the global layers see past the window (a model whose every layer is local differs).
        let allLocal = try TinyGemma.model(pattern: 1000)
        #expect(maxAbsDiff(full, try fullLogits(allLocal, ids)) > 1e-2)
    }

    /// A document prefix kept as a decoding past holds only the window's rows in local layers (and every row
    /// in global ones); decoding after it, with each sequence's own keys in a ring of the window's size in
    /// local layers, still equals the full pass at every position.
    @Test func windowedPastAndRingCacheEqualRecomputation() throws {
        let model = try TinyGemma.model()
        let ids = (0..<23).map { ($0 * 5 + 1) % 67 }, split = 10
        let past = try model.decodingPast(ids: Array(ids[..<split]))
        #expect(past.map(\.rows) == [3, 10, 3, 10] && past.map(\.dropped) == [7, 0, 7, 0] && past.allSatisfy { $0.length == split })
        let full = try fullLogits(model, ids)
        let cached = try withNoGrad {
            let c = model.config
            let cache = SequenceCache(prefixes: [past], prefixOf: [0], layers: c.layerCount, capacity: ids.count - split,
                                      kvHeads: c.kvHeadCount, headDim: c.headDim, windows: (0..<c.layerCount).map { c.window(layer: $0) })
            #expect(cache.rows == [3, 13, 3, 13])      // own positions: 13 (a ring of 3 in local layers)
            var out: [Float] = []
            for t in split..<ids.count { out += try model.decodeStep(tokens: [Int32(ids[t])], sequences: [0], cache: cache).scalars }
            return out
        }
        let v = model.config.vocabSize
        let diff = maxAbsDiff(Array(full[(split * v)...]), cached)
        #expect(diff <= 1e-4, "max diff \(diff)")
    }

    /// Prompts of several lengths after one windowed prefix, prefilled as a right-padded batch and then fed
    /// given tokens: each sequence's logits equal the full pass over prefix + prompt + tokens.
    @Test func batchedPrefillAfterAWindowedPrefixEqualsRecomputation() throws {
        let model = try TinyGemma.model()
        let prefix = (0..<9).map { ($0 * 7 + 2) % 67 }
        let prompts = [[5, 9, 13, 17], [7], [1, 2, 3, 4, 5, 6, 7]]
        let fed = [[30, 31, 32, 33, 34], [40, 41, 42, 43, 44], [50, 51, 52, 53, 54]]
        let v = model.config.vocabSize
        let (logits, cache) = try withNoGrad { () -> ([[Float]], SequenceCache) in
            let (cache, last) = try model.startSequences([PromptGroup(prefix: prefix, prompts: prompts)], capacity: 12)
            let first = try model.logits(last)
            var out = (0..<3).map { i in Array(UnsafeBufferPointer(start: first.data + i * v, count: v)) }
            for step in 0..<5 {
                let z = try model.decodeStep(tokens: fed.map { Int32($0[step]) }, sequences: [0, 1, 2], cache: cache)
                for i in 0..<3 { out[i] += Array(UnsafeBufferPointer(start: z.data + i * v, count: v)) }
            }
            return (out, cache)
        }
        #expect(cache.prefixes[0]?.map(\.rows) == [3, 9, 3, 9])
        for i in 0..<3 {
            let seq = prefix + prompts[i] + fed[i]
            let full = try fullLogits(model, seq)
            let from = (prefix.count + prompts[i].count - 1) * v
            let diff = maxAbsDiff(Array(full[from..<(from + 6 * v)]), logits[i])
            #expect(diff <= 1e-4, "sequence \(i): max diff \(diff)")
        }
    }

    @Test func batchedAndSharedPrefixGenerationEqualOneAtATime() throws {
        let model = try TinyGemma.model()
        let groups = [
            PromptGroup(prefix: [11, 12, 13, 14, 15, 16], prompts: [[5, 9, 13], [7], [1, 2, 3, 4, 5, 6, 7, 8]]),
            PromptGroup(prefix: [], prompts: [[20, 21, 22], [9]]),
            PromptGroup(prefix: [3, 3, 3, 3, 3, 3, 3, 3, 3, 3], prompts: [[8, 8], [60, 61, 62, 63, 64]]),
        ]
        let opts = GenerationOptions(maxNewTokens: 12)
        let together = try model.generate(groups: groups, options: opts)
        for (g, group) in groups.enumerated() {
            let alone = try group.prompts.map { try model.generate(prompt: group.prefix + $0, options: opts) }
            #expect(together[g] == alone, "group \(g)")
        }
        #expect(Set(together.flatMap { $0 }).count > 4)   // not vacuous: continuations differ
    }
}
