// Gemma 3 270M against HF transformers' Gemma3ForCausalLM on the same GGUF (goldens from
// Scripts/make_gemma_goldens.py): logits at every position of short prompts (top 20 and 200 fixed random
// columns) and at the last positions of a document longer than the 512-token window, within 1e-3; 32-token
// greedy continuations identical. Skipped, with the reason shown, when the model is not cached.
import Autograd
import Foundation
import Testing
@testable import LanguageModels

extension Fixtures {
    static let gemmaPath = home + "/models/gemma-3-270m-q4_k_m.gguf"
    static var hasGemma: Bool { FileManager.default.fileExists(atPath: gemmaPath) }
    /// Gemma 3 270M with dense Float32 weights (the GGUF's Q5_0/Q4_K/Q6_K/Q8_0 blocks decoded), loaded once.
    static let gemma3: Result<LlamaModel, Error> = Result { try LlamaModel.load(path: gemmaPath) }

    struct GemmaGolden: Decodable {
        struct Position: Decodable {
            let position: Int
            let top_ids: [Int]
            let top_logits: [Float]
            let random_logits: [Float]
        }
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let positions: [Position]
            let greedy_ids: [Int]?
            let greedy_text: String?
            let greedy_margins: [Float]?
        }
        let random_ids: [Int]
        let cases: [Case]
        let long: Case?
    }
    static func gemmaGolden() throws -> GemmaGolden {
        try JSONDecoder().decode(GemmaGolden.self, from: Data(contentsOf: directory.appendingPathComponent("gemma3_goldens.json")))
    }
}

@Suite("Gemma 3 270M vs transformers", .serialized,
       .enabled(if: Fixtures.hasGemma, "Gemma 3 270M GGUF not found in $AUTORE_HOME/models (run bash Scripts/setup)"))
struct GemmaParityTests {
    @Test func configFromGGUF() throws {
        let c = try Fixtures.gemma3.get().config
        #expect(c.architecture == "gemma3" && c.layerCount == 18 && c.hiddenSize == 640 && c.intermediateSize == 2048)
        #expect(c.headCount == 4 && c.kvHeadCount == 1 && c.headDim == 256 && c.vocabSize == 262_144 && c.tiedEmbeddings)
        #expect(abs(c.rmsNormEps - 1e-6) < 1e-12 && c.ropeTheta == 1e6 && c.localRopeTheta == 10_000)
        #expect((0..<18).filter { c.window(layer: $0) == nil } == [5, 11, 17])
        #expect((0..<18).allSatisfy { c.window(layer: $0) == nil || c.window(layer: $0) == 512 })
        #expect(c.embeddingScale == Double(640).squareRoot() && c.attentionScale == 1 / 16 && c.activation == .geluTanh)
    }

    /// The logits of `ids` at the golden's positions, each against its top-20 and random columns.
    func compare(_ model: LlamaModel, _ c: Fixtures.GemmaGolden.Case, randomIds: [Int]) throws -> Float {
        let out = try withNoGrad { try model.logits(model.forward(ids: c.ids.map(Int32.init), batch: 1, length: c.ids.count).hidden) }
        let v = model.config.vocabSize
        var worst: Float = 0
        for p in c.positions {
            let row = out.data + p.position * v
            worst = max(worst, maxAbsDiff(p.top_ids.map { row[$0] }, p.top_logits))
            worst = max(worst, maxAbsDiff(randomIds.map { row[$0] }, p.random_logits))
            // The reference's best token is ours too, unless the two are within the tolerance.
            let best = SamplingOptions.argmax(UnsafeBufferPointer(start: row, count: v))
            #expect(best == p.top_ids[0] || row[best] - row[p.top_ids[0]] <= 1e-3, "position \(p.position) of \(c.text.prefix(40).debugDescription)")
        }
        return worst
    }

    @Test func logitsMatchTransformersWithin1e3() throws {
        let model = try Fixtures.gemma3.get()
        let golden = try Fixtures.gemmaGolden()
        #expect(golden.cases.count >= 4 && golden.random_ids.count == 200)
        var worst: Float = 0, positions = 0
        for c in golden.cases {
            #expect(c.positions.count == c.ids.count, "every position of \(c.text.debugDescription)")
            worst = max(worst, try compare(model, c, randomIds: golden.random_ids))
            positions += c.positions.count
        }
        print("Gemma 3: max |logit − transformers| over \(positions) positions × (top 20 + 200 random) columns: \(worst)")
        #expect(worst <= 1e-3)
    }

    /// A document past the 512-token window of the local layers: its last positions attend beyond the window
    /// in the global layers only.
    @Test func logitsPastTheWindowMatchTransformers() throws {
        let model = try Fixtures.gemma3.get()
        let golden = try Fixtures.gemmaGolden()
        let long = try #require(golden.long)
        #expect(long.ids.count > 512 && long.positions.allSatisfy { $0.position >= 512 })
        let worst = try compare(model, long, randomIds: golden.random_ids)
        print("Gemma 3: \(long.ids.count)-token document, last \(long.positions.count) positions: max |logit − transformers| \(worst)")
        #expect(worst <= 1e-3)
    }

    @Test func greedyContinuationsMatchTransformers() throws {
        let model = try Fixtures.gemma3.get()
        let cases = try Fixtures.gemmaGolden().cases.filter { $0.greedy_ids != nil }
        #expect(cases.count >= 4)
        for c in cases {
            let out = try model.generate(prompt: c.ids, options: GenerationOptions(maxNewTokens: 32))
            #expect(out == c.greedy_ids!, "continuation of \(c.text.debugDescription) (reference: \(c.greedy_text ?? ""))")
        }
    }
}
