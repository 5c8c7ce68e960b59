// Extraction with a paradigm's stages: relations → heads → facts (or the shorter paradigms), each stage
// answered by its own adapter over one base, every question about a document decoded together after the
// document's shared prefix, and documents batched. Not training (TrainJob) and not scoring (DocRE).
import Autograd
import DocRE
import Foundation
import LanguageModels
import NeuralNet

/// How answers are decoded.
public struct ExtractionOptions: Sendable {
    public var maxNewTokens = 128
    public var sampling = SamplingOptions.greedy
    public var seed: UInt64 = 0
    public var batchDocuments = 4
    public var maxRelations = 16
    public var maxHeads = 8
    /// End an answer when it repeats one of its lines (answers are lists; a repeat is a loop).
    public var stopOnRepeatedLine = true
    public init() {}
    public init(_ s: ExtractionSettings) {
        maxNewTokens = s.maxNewTokens
        sampling = SamplingOptions(temperature: s.temperature, topK: s.topK, topP: s.topP)
        seed = s.seed; batchDocuments = s.batchDocuments; maxRelations = s.maxRelations; maxHeads = s.maxHeads
    }
}

/// What an extraction cost.
public struct ExtractionStatistics: Codable, Sendable {
    public var documents = 0
    public var questions = 0
    /// Tokens read (prefixes once per stage, questions) and tokens written.
    public var promptTokens = 0
    public var generatedTokens = 0
    public var seconds = 0.0
    public init() {}
    public var documentsPerMinute: Double { seconds > 0 ? Double(documents) * 60 / seconds : 0 }
    public var tokensPerSecond: Double { seconds > 0 ? Double(promptTokens + generatedTokens) / seconds : 0 }
    public var generatedPerSecond: Double { seconds > 0 ? Double(generatedTokens) / seconds : 0 }
}

/// Turns documents into triplets with a paradigm's stage questions.
///
///     let x = Extractor(model: base.model, format: format, builder: builder, parser: OutputParser(),
///                       adapters: [.relations: "relations", .heads: "heads", .facts: "facts"])
///     let predictions = try x.extract(documents)
public final class Extractor {
    public let model: LlamaModel
    public let format: PromptFormat
    public let builder: ParadigmBuilder
    public let parser: OutputParser
    /// The adapter that answers each stage; a stage missing here is answered by the bare base model.
    public var adapters: [Stage: String]
    public var options: ExtractionOptions
    public private(set) var statistics = ExtractionStatistics()
    /// Where answers come from: nil is the model (generation); a function answers each question itself
    /// (gold answers to check the pipeline, a cache, another system).
    public var answerSource: ((Stage, Document, StageQuery) throws -> String)?
    lazy var lineBreaks: Set<Int> = format.lineBreakTokens

    public init(model: LlamaModel, format: PromptFormat, builder: ParadigmBuilder, parser: OutputParser,
                adapters: [Stage: String], options: ExtractionOptions = ExtractionOptions()) {
        self.model = model; self.format = format; self.builder = builder; self.parser = parser
        self.adapters = adapters; self.options = options
    }

    /// The generated answer to each query of each document (`queries[d]` are document d's), one stage at a time.
    public func ask(_ docs: [Document], _ queries: [[StageQuery]], stage: Stage) throws -> [[String]] {
        if let answerSource {
            return try zip(docs, queries).map { doc, qs in try qs.map { try answerSource(stage, doc, $0) } }
        }
        model.activateAdapter(adapters[stage])
        model.setTraining(false)
        // Queries of a document that share a prefix text form one group (all of them, in document-first order).
        var groups: [PromptGroup] = [], slots: [[(doc: Int, query: Int)]] = []
        for (d, doc) in docs.enumerated() {
            var byPrefix: [String: Int] = [:]
            for (k, q) in queries[d].enumerated() {
                let (prefix, question) = try builder.prompt(doc, q)
                if byPrefix[prefix] == nil {
                    byPrefix[prefix] = groups.count
                    groups.append(PromptGroup(prefix: format.encodePrefix(prefix), prompts: []))
                    slots.append([])
                }
                let g = byPrefix[prefix]!
                groups[g].prompts.append(format.encodeQuestion(question))
                slots[g].append((d, k))
            }
        }
        var answers = queries.map { Array(repeating: "", count: $0.count) }
        guard !groups.isEmpty else { return answers }
        let out = try model.generate(groups: groups, options: GenerationOptions(
            maxNewTokens: options.maxNewTokens, sampling: options.sampling, stopTokens: format.stopTokens, seed: options.seed,
            lineBreaks: options.stopOnRepeatedLine ? lineBreaks : []))
        for (g, group) in groups.enumerated() {
            statistics.promptTokens += group.prefix.count + group.prompts.reduce(0) { $0 + $1.count }
            for (i, slot) in slots[g].enumerated() {
                statistics.generatedTokens += out[g][i].count
                answers[slot.doc][slot.query] = format.decodeAnswer(out[g][i])
            }
            statistics.questions += group.prompts.count
        }
        return answers
    }

    /// Predictions for `docs`, `options.batchDocuments` documents at a time; `progress(done)` after each batch.
    public func extract(_ docs: [Document], progress: ((Int) -> Void)? = nil) throws -> [PredictionRecord] {
        var out: [PredictionRecord] = []
        for start in stride(from: 0, to: docs.count, by: max(1, options.batchDocuments)) {
            let t0 = Date()
            let batch = try extractBatch(Array(docs[start..<min(docs.count, start + options.batchDocuments)]))
            out += batch
            statistics.seconds += Date().timeIntervalSince(t0)
            statistics.documents += batch.count
            progress?(out.count)
        }
        return out
    }

    /// One batch of documents through every stage of the paradigm.
    func extractBatch(_ docs: [Document]) throws -> [PredictionRecord] {
        let n = docs.count, stages = builder.paradigm.stages
        let passages = docs.map(\.passage)
        var relations = Array(repeating: [String](), count: n)
        var heads = Array(repeating: [String: [String]](), count: n)
        var triples = Array(repeating: [Triple](), count: n)
        var unparsed = Array(repeating: [String](), count: n)
        var raw = Array(repeating: [String: JSONValue](), count: n)

        if stages.contains(.relations) {
            let answers = try ask(docs, Array(repeating: [.relations], count: n), stage: .relations)
            for d in 0..<n {
                raw[d]["relations"] = .string(answers[d][0])
                let p = parser.parseRelations(answers[d][0])
                relations[d] = Array(unique(p.items).prefix(options.maxRelations))
                unparsed[d] += p.unparsed
            }
        }
        var factQueries: [[StageQuery]]
        switch builder.paradigm {
        case .D_F:
            factQueries = Array(repeating: [.allFacts], count: n)
        case .D_RS_F:
            factQueries = relations.map { $0.isEmpty ? [] : [.factsGivenRelations($0)] }
        case .D_R_F:
            factQueries = relations.map { $0.map { .factsOfRelation($0) } }
        case .D_R_H_F, .D_R_H_F_desc:
            let headQueries: [[StageQuery]] = relations.map { $0.map { .heads(relation: $0) } }
            let answers = try ask(docs, headQueries, stage: .heads)
            factQueries = Array(repeating: [], count: n)
            for d in 0..<n {
                for (k, r) in relations[d].enumerated() {
                    raw[d]["heads | \(r)"] = .string(answers[d][k])
                    let p = parser.parseHeads(answers[d][k], passage: passages[d])
                    let hs = Array(unique(p.items).prefix(options.maxHeads))
                    heads[d][r] = hs
                    unparsed[d] += p.unparsed
                    factQueries[d] += hs.map { .factsOfHead(relation: r, head: $0) }
                }
            }
        }
        let answers = try ask(docs, factQueries, stage: .facts)
        for d in 0..<n {
            for (k, q) in factQueries[d].enumerated() {
                raw[d][(["facts"] + [q.relation, q.head].compactMap { $0 }).joined(separator: " | ")] = .string(answers[d][k])
                let p = parser.parseTriples(answers[d][k], passage: passages[d])
                triples[d] += p.triples
                unparsed[d] += p.unparsed
            }
        }
        return (0..<n).map { d in
            PredictionRecord(title: docs[d].title,
                             relations: stages.contains(.relations) ? relations[d] : nil,
                             heads: stages.contains(.heads) ? heads[d] : nil,
                             triples: unique(triples[d]),
                             raw: .object(raw[d]), unparsed: unparsed[d])
        }
    }

    /// Stage F1 with gold inputs: each question of `stage` that the gold structure asks (relations of the
    /// document; heads of a gold relation; facts of a gold relation and head) is answered by the model,
    /// and its parsed items are compared with the parsed gold answer. Micro-averaged over all questions.
    public func stageScore(_ docs: [Document], stage: Stage) throws -> PRF {
        var queries: [[StageQuery]] = [], gold: [[[String]]] = []
        for doc in docs {
            let view = try GoldView(doc, catalogue: builder.catalogue)
            let qs = builder.goldQueries(view).filter { $0.query.stage == stage }
            queries.append(qs.map(\.query))
            gold.append(qs.map { items(stage, $0.lines.joined(separator: "\n"), doc.passage) })
        }
        var total = PRF()
        for start in stride(from: 0, to: docs.count, by: max(1, options.batchDocuments)) {
            let r = start..<min(docs.count, start + options.batchDocuments)
            let answers = try ask(Array(docs[r]), Array(queries[r]), stage: stage)
            for (d, doc) in zip(r, docs[r]) {
                for (k, text) in answers[d - start].enumerated() {
                    let predicted = Set(items(stage, text, doc.passage)), expected = Set(gold[d][k])
                    let tp = predicted.intersection(expected).count
                    total = total + PRF(tp: tp, fp: predicted.count - tp, gold: expected.count)
                }
            }
        }
        return total
    }

    /// The parsed items of one answer, as comparable strings.
    func items(_ stage: Stage, _ text: String, _ passage: String) -> [String] {
        switch stage {
        case .relations: return parser.parseRelations(text).items
        case .heads: return parser.parseHeads(text, passage: passage).items.map { Text.normalised($0).lowercased() }
        case .facts: return parser.parseTriples(text, passage: passage).triples.map {
            [$0.head, $0.relation, $0.tail].map { Text.normalised($0).lowercased() }.joined(separator: "\u{1}")
        }
        }
    }
}

/// The elements in first-seen order without repeats.
func unique<T: Hashable>(_ xs: [T]) -> [T] {
    var seen = Set<T>()
    return xs.filter { seen.insert($0).inserted }
}

extension Document {
    /// A document from raw text (no gold entities or labels): one sentence of whitespace-separated tokens,
    /// so its passage is the text with runs of white space folded to one space.
    public static func fromText(_ text: String, title: String = "text") throws -> Document {
        let words = text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        guard !words.isEmpty else { throw AutoREError("the text to extract from is empty") }
        return Document(title: title, sents: [words], vertexSet: [], labels: [])
    }
}
