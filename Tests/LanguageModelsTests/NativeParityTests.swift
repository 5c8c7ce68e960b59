// Native quantization (projections and the tied head kept in the GGUF's own blocks, read by the fused kernels
// when decoding and by decoded tiles when prefilling) against the same transformers goldens as the dense model:
// logits within 1e-3 at every position, greedy continuations identical.
import Autograd
import Foundation
import Testing
@testable import LanguageModels
import NeuralNet

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
