// SmolLM2-135M-Instruct against HF transformers (goldens from Scripts/make_model_goldens.py, same GGUF):
// logits at every position and 32-token greedy continuations.
import Autograd
import Foundation
import Testing
@testable import LanguageModels

@Suite(.serialized) struct ReferenceParityTests {
    @Test func logitsMatchTransformersWithin1e3() throws {
        let model = try Fixtures.smolLM2.get()
        var worst: Float = 0
        for c in try Fixtures.golden().cases {
            let out = try withNoGrad { () throws -> Tensor in
                let h = try model.forward(ids: c.ids.map(Int32.init), batch: 1, length: c.ids.count).hidden
                return try model.logits(h)
            }
            let v = model.config.vocabSize
            for (t, (ids, ref)) in zip(c.top5_ids, c.top5_logits).enumerated() {
                let ours = ids.map { out.data[t * v + $0] }
                worst = max(worst, maxAbsDiff(ours, ref))
                // The reference's best token is ours too, unless the two are within the tolerance.
                let best = SamplingOptions.argmax(UnsafeBufferPointer(start: out.data + t * v, count: v))
                #expect(best == ids[0] || out.data[t * v + best] - ours[0] <= 1e-3, "position \(t) of \(c.text.debugDescription)")
            }
        }
        print("max |logit − reference| over all positions and top-5 tokens: \(worst)")
        #expect(worst <= 1e-3)
    }

    @Test func greedyContinuationsMatchTransformers() throws {
        let model = try Fixtures.smolLM2.get()
        for c in try Fixtures.golden().cases {
            let out = try model.generate(prompt: c.ids, options: GenerationOptions(maxNewTokens: 32))
            #expect(out == c.greedy_ids, "continuation of \(c.text.debugDescription)")
        }
    }
}
