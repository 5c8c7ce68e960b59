// The extraction pipeline: its stage flow (relations → heads → facts and the shorter paradigms) answered
// with gold answers reproduces the gold facts; raw text, adapters on and off the base, result files.
import DocRE
import Foundation
import LanguageModels
import NeuralNet
import Support
import TestSupport
import Testing
import Tokenization
@testable import RHF

@Suite struct ExtractorTests {
    static let docs: [Document] = try! DocumentLoader.load(DataLocation.projectData.appendingPathComponent("fixtures/tiny_redocred.json"))

    /// An extractor whose answers are the gold answers of each question (as the paradigm writes them);
    /// questions the gold structure does not ask get an empty answer, and every question is recorded.
    func goldExtractor(_ paradigm: Paradigm, asked: Box<[String]>) throws -> Extractor {
        let builder = try ParadigmBuilder(paradigm: paradigm, catalogue: .standard)
        let x = Extractor(model: try Self.tinyModel(), format: try PromptFormat(tokenizer: Self.tokenizer(), chatTemplate: "none"),
                          builder: builder, adapters: [:])
        x.answerSource = AnswerFunction { stage, doc, query in
            asked.value.append("\(stage.rawValue) \(query)")
            return try Self.goldAnswer(builder, doc, query)
        }
        return x
    }

    /// The gold answer to `query` as the paradigm writes it; empty where the gold structure does not ask it.
    static func goldAnswer(_ builder: ParadigmBuilder, _ doc: Document, _ query: StageQuery) throws -> String {
        let gold = builder.goldQueries(try GoldView(doc, catalogue: .standard))
        return gold.first { $0.query == query }?.lines.joined(separator: "\n") ?? ""
    }

    /// The tiny model with a rank-2 "facts" adapter on q and v whose i-th parameter value is `value(i)`.
    static func tinyModelWithFactsAdapter(seed: UInt64, _ value: (Int) -> Float) throws -> LlamaModel {
        let model = try tinyModel()
        try model.addAdapter("facts", config: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: ["q_proj", "v_proj"]), seed: seed)
        for (_, p) in model.adapterParameters("facts") { for i in 0..<p.value.count { p.value.data[i] = value(i) } }
        return model
    }

    @Test(arguments: Paradigm.allCases)
    func goldAnswersThroughEveryStageScoreFull(_ paradigm: Paradigm) throws {
        let asked = Box<[String]>([])
        let x = try goldExtractor(paradigm, asked: asked)
        x.options.batchDocuments = 2
        let preds = try x.extract(Self.docs)
        let scores = Evaluator(documents: Self.docs).autore(preds)
        #expect(scores.total.gold > 0)
        #expect(scores.total.f1 == 1, "\(paradigm): \(scores.total)")
        #expect(preds.map(\.title) == Self.docs.map(\.title))
        // the pipeline asked exactly the stages of the paradigm
        let stages = Set(asked.value.map { String($0.prefix { $0 != " " }) })
        #expect(stages == Set(paradigm.stages.map(\.rawValue)))
        if paradigm.stages.contains(.heads) { #expect(preds.allSatisfy { $0.heads != nil }) }
    }

    @Test func wrongUpstreamAnswersCascade() throws {
        // Facts are asked only about the relations the first stage named: drop one and its facts are lost.
        let asked = Box<[String]>([])
        let x = try goldExtractor(.D_R_H_F, asked: asked)
        let inner = x.answerSource!
        let doc = Self.docs[0]
        let gold = try GoldView(doc, catalogue: .standard)
        let dropped = gold.relations[0]
        x.answerSource = AnswerFunction { stage, d, q in
            if stage == .relations { return gold.relations.dropFirst().joined(separator: "\n") }
            return try inner.answer(stage, d, q)
        }
        let pred = try x.extract([doc])[0]
        #expect(!pred.tripleValues.contains { $0.relation == dropped })
        #expect(!asked.value.contains { $0.contains("\"\(dropped)\"") || $0.hasPrefix("heads heads(relation: \"\(dropped)\")") })
        let s = Evaluator(documents: [doc]).autore([pred]).total
        #expect(s.recall < 1 && s.precision == 1)
    }

    @Test func rawTextBecomesADocument() throws {
        let d = try Document.fromText("  Marie Curie was born in\n Warsaw .  ", title: "t")
        #expect(d.passage == "Marie Curie was born in Warsaw .")
        #expect(d.vertexSet.isEmpty && d.labels.isEmpty)
        #expect(throws: AutoREError.self) { try Document.fromText(" \n ") }
    }

    @Test func extractionWithTheModelIsBatchInvariantAndResumes() throws {
        // Real generation on a tiny model: documents decoded together equal documents decoded alone, and
        // an extraction written to a file resumes from the documents already there.
        let model = try Self.tinyModelWithFactsAdapter(seed: 3) { 0.05 * Float($0 % 7) - 0.1 }
        let builder = try ParadigmBuilder(paradigm: .D_F, catalogue: .standard)
        let format = try PromptFormat(tokenizer: Self.tokenizer(), chatTemplate: "none")
        func extractor(batch: Int) -> Extractor {
            var o = ExtractionOptions(); o.maxNewTokens = 6; o.batchDocuments = batch
            return Extractor(model: model, format: format, builder: builder, adapters: [.facts: "facts"], options: o)
        }
        let docs = Self.docs + [try Document.fromText("Ada Lovelace worked with Charles Babbage in London .", title: "raw 1"),
                                try Document.fromText("The Danube flows through Vienna and Budapest .", title: "raw 2")]
        let together = try extractor(batch: 3).extract(docs), alone = try extractor(batch: 1).extract(docs)
        #expect(together == alone)
        let raws = together.compactMap { r -> String? in if case .object(let o)? = r.raw, case .string(let s)? = o["facts"] { return s }; return nil }
        #expect(raws.count == docs.count && raws.contains { !$0.isEmpty })
        // the adapter matters: without it the answers differ
        let bare = Extractor(model: model, format: format, builder: builder, adapters: [:], options: extractor(batch: 3).options)
        let bareRaw: [JSONValue?] = try bare.extract(docs).map { $0.raw }
        #expect(bareRaw != together.map { $0.raw })

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autore-extract-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try extractor(batch: 1).extract(Array(docs.prefix(3)), resumingAt: path, label: "t")
        // a torn last line, as a killed writer leaves it
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path)); try h.seekToEnd(); try h.write(contentsOf: Data("{\"title\":\"x".utf8)); try h.close()
        let resumed = extractor(batch: 1)
        let all = try resumed.extract(docs, resumingAt: path, label: "t")
        #expect(all == together)
        #expect(resumed.statistics.documents == 1)   // only the last document was extracted again
        #expect(try PredictionRecord.load(URL(fileURLWithPath: path)) == together)
        // predictions of other documents are refused, not overwritten
        #expect(throws: AutoREError.self) { try extractor(batch: 1).extract(Array(docs.suffix(3)), resumingAt: path, label: "t") }
    }

    @Test func factsQuestionsOfARelationShareTheirStemWithTheSameAnswers() throws {
        // Gold relations and heads fed, the facts generated by a tiny model with an adapter: the questions of
        // one relation read their common stem once (fewer prompt tokens), and every answer is what reading
        // each whole question gives.
        let model = try Self.tinyModelWithFactsAdapter(seed: 5) { 0.04 * Float($0 % 5) - 0.08 }
        let builder = try ParadigmBuilder(paradigm: .D_R_H_F_desc, catalogue: .standard)
        let format = try PromptFormat(tokenizer: Self.tokenizer(), chatTemplate: "none")
        func run(sharing: Bool) throws -> (records: [PredictionRecord], promptTokens: Int) {
            var o = ExtractionOptions(); o.maxNewTokens = 5; o.batchDocuments = 2; o.shareQuestionStems = sharing
            let x = Extractor(model: model, format: format, builder: builder, adapters: [.facts: "facts"], options: o)
            x.answerSource = AnswerFunction { stage, doc, query in
                stage == .facts ? nil : try Self.goldAnswer(builder, doc, query)
            }
            let records = try x.extract(Self.docs)
            return (records, x.statistics.promptTokens)
        }
        let shared = try run(sharing: true), whole = try run(sharing: false)
        #expect(shared.records == whole.records)
        #expect(shared.promptTokens < whole.promptTokens, "stems read once: \(shared.promptTokens) against \(whole.promptTokens)")
        let facts = shared.records.flatMap { r -> [String] in
            guard case .object(let o)? = r.raw else { return [] }
            return o.compactMap { k, v in if k.hasPrefix("facts | "), case .string(let s) = v, !s.isEmpty { return s }; return nil }
        }
        #expect(facts.count >= 2, "the model answered facts questions: \(facts.count)")
    }

    // MARK: fixtures

    static func tinyModel() throws -> LlamaModel {
        // byte-level vocabulary of 256 + 2 specials, so any text tokenizes
        try LlamaModel.load(path: TinyByteModel.checkpoint())
    }
    static func tokenizer() throws -> Tokenizer { try TinyByteModel.tokenizer() }
}

final class Box<T> { var value: T; init(_ v: T) { value = v } }

@Suite struct TrainedAdapterFileTests {
    @Test func adaptersRoundTripThroughHDF5AndPEFTFoldersAndInstallStrictly() throws {
        let model = try LlamaModel.load(path: TinyByteModel.checkpoint())
        let lora = LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: ["q_proj", "v_proj"])
        try model.addAdapter("heads", config: lora, seed: 9)
        for (_, p) in model.adapterParameters("heads") { for i in 0..<p.value.count { p.value.data[i] = Float(i % 5) * 0.01 } }
        let a = TrainedAdapter(model: model, adapter: "heads", stage: .stage(.heads), lora: lora, config: "name: x", step: 7)
        #expect(a.weights.keys.allSatisfy { !$0.contains(".heads.") } && a.weights.count == 8)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autore-adapters-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try a.save(to: dir.appendingPathComponent("run/heads/best.h5").path)
        try a.writePEFT(to: dir.appendingPathComponent("peft/heads").path, baseModel: "tiny")
        for source in ["run", "peft"] {
            let back = try RunAdapters.load([dir.appendingPathComponent(source).path])
            #expect(back.count == 1 && back[0].stage == .stage(.heads) && back[0].weights == a.weights && back[0].lora == lora)
            #expect(back[0].step == 7 && back[0].config == "name: x", "\(source)")
            // installed under another name on a fresh model: the same layer outputs as the original adapter
            let fresh = try LlamaModel.load(path: TinyByteModel.checkpoint())
            try back[0].install(on: fresh, as: "h2")
            #expect(fresh.adapterParameters("h2").map { $0.1.value.scalars } == model.adapterParameters("heads").map { $0.1.value.scalars })
        }
        // a paradigm stage without an adapter is refused, naming it
        #expect(throws: AutoREError.self) { try RunAdapters.install([a], on: model, paradigm: .D_R_H_F) }
        // weights for a layer the model lacks are refused
        var wrong = a
        wrong.weights["model.layers.9.self_attn.q_proj.lora_A.weight"] = wrong.weights.first!.value
        #expect(throws: AutoREError.self) { try wrong.install(on: model, as: "w") }
        #expect(throws: AutoREError.self) { try RunAdapters.load([dir.appendingPathComponent("nothing").path]) }
    }
}
