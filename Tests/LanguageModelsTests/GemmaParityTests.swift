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

    /// The document past the window decoded as extraction decodes it: its first 600 tokens a windowed past
    /// (local layers keep 512 rows), two prompts of different lengths prefilled as one padded batch after it,
    /// then the document's next tokens fed one at a time. Every logit of both sequences equals the full
    /// pass over the same tokens, and the last six positions equal transformers' logits.
    @Test func cachedDecodingPastTheWindowMatchesTheFullPass() throws {
        let model = try Fixtures.gemma3.get()
        let golden = try Fixtures.gemmaGolden()
        let long = try #require(golden.long)
        let ids = long.ids, v = model.config.vocabSize, c = model.config.hiddenSize
        #expect(ids.count == 640)
        // rows of the full pass: positions 599…639
        let full = try withNoGrad { () -> Tensor in
            let h = try model.forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).hidden.reshaped([ids.count, c])
            return try model.logits(slice(h, axis: 0, 599..<640))
        }
        func fullRow(_ position: Int) -> [Float] { Array(UnsafeBufferPointer(start: full.data + (position - 599) * v, count: v)) }
        let prompts = [Array(ids[600..<634]), Array(ids[600..<620])]
        var rows: [[(position: Int, logits: [Float])]] = [[], []]
        let past = try model.decodingPast(ids: Array(ids[..<600]))
        #expect((0..<18).allSatisfy { past[$0].rows == (model.config.window(layer: $0) == nil ? 600 : 512) })
        try withNoGrad {
            let (cache, last) = try model.startSequences([PromptGroup(prefix: Array(ids[..<600]), prompts: prompts)], capacity: 40,
                                                         prefixStates: [0: past])
            let first = try model.logits(last)
            for i in 0..<2 { rows[i].append((599 + prompts[i].count, Array(UnsafeBufferPointer(start: first.data + i * v, count: v)))) }
            for step in 0..<6 {
                let next = [634 + step, 620 + step]
                let z = try model.decodeStep(tokens: next.map { Int32(ids[$0]) }, sequences: [0, 1], cache: cache)
                for i in 0..<2 { rows[i].append((next[i], Array(UnsafeBufferPointer(start: z.data + i * v, count: v)))) }
            }
        }
        var worst: Float = 0
        for r in rows.joined() { worst = max(worst, maxAbsDiff(r.logits, fullRow(r.position))) }
        print("Gemma 3: cached decoding after a 600-token windowed past vs the full pass, 14 positions past 512: max |Δlogit| \(worst)")
        #expect(worst <= 1e-4)
        var reference: Float = 0
        for p in long.positions {
            let row = try #require(rows[0].first { $0.position == p.position }).logits
            reference = max(reference, maxAbsDiff(p.top_ids.map { row[$0] }, p.top_logits), maxAbsDiff(golden.random_ids.map { row[$0] }, p.random_logits))
        }
        print("Gemma 3: cached decoding vs transformers at positions 634…639: max |Δlogit| \(reference)")
        #expect(reference <= 1e-3)
    }

    /// What the 262,144-token head costs in a decoding step of 8 sequences after a document: the step
    /// through the blocks (`decodeHidden`) and the head on its 8 rows, timed apart; their logits are the
    /// step's (`decodeStep`).
    @Test func headShareOfADecodingStep() throws {
        let model = try Fixtures.gemma3.get()
        let ids = try #require(Fixtures.gemmaGolden().long).ids
        let prompts = (0..<8).map { Array(ids[(400 + 4 * $0)..<(410 + 4 * $0)]) }
        try withNoGrad {
            let (cache, last) = try model.startSequences([PromptGroup(prefix: Array(ids[..<400]), prompts: prompts)], capacity: 40)
            let again = try model.startSequences([PromptGroup(prefix: Array(ids[..<400]), prompts: prompts)], capacity: 40).0
            let v = model.config.vocabSize
            func best(_ z: Tensor) -> [Int32] { (0..<8).map { Int32(SamplingOptions.argmax(UnsafeBufferPointer(start: z.data + $0 * v, count: v))) } }
            var tokens = best(try model.logits(last))
            var body = 0.0, head = 0.0
            let steps = 6
            for _ in 0..<steps {
                let t0 = Date()
                let h = try model.decodeHidden(tokens: tokens, sequences: Array(0..<8), cache: cache)
                let t1 = Date()
                let z = try model.logits(h)
                let t2 = Date()
                body += t1.timeIntervalSince(t0); head += t2.timeIntervalSince(t1)
                let whole = try model.decodeStep(tokens: tokens, sequences: Array(0..<8), cache: again)
                #expect(maxAbsDiff(z.scalars, whole.scalars) == 0)
                tokens = best(z)
            }
            print(String(format: "Gemma 3 decoding, 8 sequences after a 400-token document (%d threads): blocks %.1f ms, head %.1f ms per step; the head is %.0f%% of the step",
                         Threads.count, 1000 * body / Double(steps), 1000 * head / Double(steps), 100 * head / (body + head)))
            #expect(head > 0 && body > 0)
        }
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
