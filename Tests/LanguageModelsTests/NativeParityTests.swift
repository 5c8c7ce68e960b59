// Native quantization (projections and the tied head kept in the GGUF's own blocks, read by the fused kernels
// when decoding and by decoded tiles when prefilling) against the same transformers goldens as the dense model:
// logits within 1e-3 at every position, greedy continuations identical.
import Autograd
import Foundation
import Testing
@testable import LanguageModels
import NeuralNet
import Support

extension Fixtures {
    static let smolLM2Native: Result<LlamaModel, Error> = Result { try LlamaModel.load(path: smolLM2Path, quantization: .native) }
    static let gemma3Native: Result<LlamaModel, Error> = Result { try LlamaModel.load(path: gemmaPath, quantization: .native) }
}

/// Every projection and the head hold GGML blocks, not Float32.
func expectNativeWeights(_ model: LlamaModel) {
    let linears = model.namedModules().compactMap { $0.1 as? Linear }
    #expect(linears.count == 7 * model.config.layerCount + 1)
    for l in linears {
        guard case .ggml = l.weight else { Issue.record("a linear layer is not in GGML blocks"); continue }
    }
}

@Suite(.serialized) struct NativeParityTests {
    /// Constrained greedy decoding reads a head in GGML blocks at each step's allowed tokens only
    /// (`headAtAllowedTokensOnly`), and writes exactly the tokens of the whole head: with 5 sequences (one
    /// part, the same fused kernel: equal bit for bit) and with 20 (parts of 16 and 4 rows, where the whole
    /// head is decoded tiles and sgemm instead). The stop token is allowed and biased, as extraction does.
    @Test func constrainedGreedyWritesTheSameTokensWithTheHeadAtAllowedTokensOnly() throws {
        let model = try LlamaModel.load(path: Fixtures.smolLM2Path, quantization: .native)
        let v = model.config.vocabSize, stop = 2
        struct Subset: TokenConstraint {
            let ids: [Int]
            mutating func allowedTokens() -> [Int]? { ids }
            mutating func advance(_ token: Int) {}
        }
        // the head's chosen columns are the whole head's, bit for bit (3 rows)
        let h = try withNoGrad { try model.forward(ids: [1, 504, 2378, 12], batch: 1, length: 4).hidden.reshaped([4, model.config.hiddenSize]) }
        let ids = [stop, 17, 49151, 300, 301]
        let some = try #require(model.logits(h, only: ids), "a Q8_0 head answers for chosen tokens")
        let all = try model.logits(h)
        for r in 0..<4 { for (j, t) in ids.enumerated() { #expect(some.data[r * ids.count + j].bitPattern == all.data[r * v + t].bitPattern) } }
        for count in [5, 20] {
            let prompts = (0..<count).map { i in [1 + i, 200 + 7 * i, 3000 + i] }
            let sets = (0..<count).map { i -> [Int] in
                var g = SplitMix64(seed: UInt64(i))
                return Array(Set((0..<400).map { _ in Int(g.next() % UInt64(v)) } + [stop])).sorted()
            }
            func run(_ sparse: Bool) throws -> [[Int]] {
                model.headAtAllowedTokensOnly = sparse
                return try model.generate(groups: [PromptGroup(prefix: [1, 2, 3], prompts: prompts)],
                                          options: GenerationOptions(maxNewTokens: 6, stopTokens: [stop], stopBias: 2),
                                          constraints: sets.map { Subset(ids: $0) })[0]
            }
            let sparse = try run(true), whole = try run(false)
            #expect(sparse == whole, "\(count) sequences")
            #expect(zip(sparse, sets).allSatisfy { out, set in out.allSatisfy { set.contains($0) } })
            #expect(sparse.allSatisfy { !$0.isEmpty })
        }
    }

    @Test func smolLM2LogitsAndGreedyMatchTransformers() throws {
        let model = try Fixtures.smolLM2Native.get()
        expectNativeWeights(model)
        var worst: Float = 0
        for c in try Fixtures.golden().cases {
            let v = model.config.vocabSize
            // The whole prompt at once (tiles of decoded blocks for more than 16 tokens), then token by token
            // through the KV cache (the fused kernels), which must give the same logits within the tolerance.
            let full = try withNoGrad { try model.logits(model.forward(ids: c.ids.map(Int32.init), batch: 1, length: c.ids.count).hidden) }
            var past: [LayerKV]? = nil
            var stepwise: [Float] = []
            try withNoGrad {
                for id in c.ids {
                    let out = try model.forward(ids: [Int32(id)], batch: 1, length: 1, past: past)
                    var next: [LayerKV] = []
                    for (l, kv) in out.present.enumerated() {
                        guard let old = past?[l] else { next.append(kv); continue }
                        next.append(LayerKV(k: try concat([old.k, kv.k], axis: 1), v: try concat([old.v, kv.v], axis: 1)))
                    }
                    past = next
                    stepwise += try model.logits(out.hidden).scalars
                }
            }
            for (t, (ids, ref)) in zip(c.top5_ids, c.top5_logits).enumerated() {
                worst = max(worst, maxAbsDiff(ids.map { full.data[t * v + $0] }, ref))
                worst = max(worst, maxAbsDiff(ids.map { stepwise[t * v + $0] }, ref))
            }
            let out = try model.generate(prompt: c.ids, options: GenerationOptions(maxNewTokens: 32))
            #expect(out == c.greedy_ids, "continuation of \(c.text.debugDescription)")
        }
        print("native SmolLM2: max |logit − transformers| (whole prompts and token by token): \(worst)")
        #expect(worst <= 1e-3)
    }

    @Test(.enabled(if: Fixtures.hasGemma, "Gemma 3 270M GGUF not found in $AUTORE_HOME/models (run bash Scripts/setup)"))
    func gemma3LogitsAndGreedyMatchTransformers() throws {
        let model = try Fixtures.gemma3Native.get()
        expectNativeWeights(model)
        let golden = try Fixtures.gemmaGolden()
        var worst: Float = 0
        for c in golden.cases {
            let v = model.config.vocabSize
            let out = try withNoGrad { try model.logits(model.forward(ids: c.ids.map(Int32.init), batch: 1, length: c.ids.count).hidden) }
            for p in c.positions {
                let row = out.data + p.position * v
                worst = max(worst, maxAbsDiff(p.top_ids.map { row[$0] }, p.top_logits))
                worst = max(worst, maxAbsDiff(golden.random_ids.map { row[$0] }, p.random_logits))
            }
            if let greedy = c.greedy_ids {
                #expect(try model.generate(prompt: c.ids, options: GenerationOptions(maxNewTokens: 32)) == greedy,
                        "continuation of \(c.text.debugDescription)")
            }
        }
        print("native Gemma 3: max |logit − transformers|: \(worst)")
        #expect(worst <= 1e-3)
    }
}
