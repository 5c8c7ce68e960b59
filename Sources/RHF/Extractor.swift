// Extraction with a paradigm's stages: relations → heads → facts (or the shorter paradigms), each stage
// answered by its own adapter over one base, every question about a document decoded together after the
// document's shared prefix, and documents batched. Which stage follows which, and which questions the
// parsed answers lead to, is the paradigm's (DocRE). Not training (Experiments) and not scoring (DocRE).
import Autograd
import DocRE
import Foundation
import LanguageModels
import NeuralNet

/// How a paradigm's relations stage is answered.
public enum RelationsMethod: String, Codable, CaseIterable, Sendable {
    /// The relations adapter writes the list.
    case generate
    /// Every catalogue relation is scored as the answer's first line (log p(name⏎ | prompt)) and the best
    /// are kept (`RelationSelection`).
    case likelihood
    /// The adapter writes the list; then every catalogue relation is scored as with `likelihood`, and the
    /// ones it did not write whose log-probability reaches `RelationSelection.minLogProbability` (required),
    /// best first and at most `topK`, are added after it: relations the list missed that the adapter is
    /// sure of.
    case union
}

/// Which relations scored by likelihood are kept: the `topK` best, and of those only the ones with
/// log-probability ≥ `minLogProbability` (when set), but at least `minimum`.
public struct RelationSelection: Codable, Equatable, Sendable {
    public var topK = 8
    public var minLogProbability: Double?
    public var minimum = 1
    public init(topK: Int = 8, minLogProbability: Double? = nil, minimum: Int = 1) {
        self.topK = topK; self.minLogProbability = minLogProbability; self.minimum = minimum
    }
    /// For `RelationsMethod.union`: the names of `scored` not in `written` whose log-probability reaches
    /// `minLogProbability`, best first (ties: catalogue order), at most `topK`; none without a threshold.
    public func additions(to written: [String], from scored: [(name: String, logProbability: Double)]) -> [String] {
        guard let threshold = minLogProbability else { return [] }
        let have = Set(written)
        return Self.ranked(scored).filter { $0.logProbability >= threshold && !have.contains($0.name) }.prefix(topK).map(\.name)
    }

    /// `scored` best first; ties keep catalogue order.
    static func ranked(_ scored: [(name: String, logProbability: Double)]) -> [(name: String, logProbability: Double)] {
        scored.enumerated().sorted { a, b in
            a.element.logProbability != b.element.logProbability ? a.element.logProbability > b.element.logProbability : a.offset < b.offset
        }.map(\.element)
    }

    /// The kept names of `scored` (name, log p), best first.
    public func select(_ scored: [(name: String, logProbability: Double)]) -> [String] {
        let ranked = Self.ranked(scored)
        var kept = ranked.prefix(topK).filter { r in minLogProbability.map { r.logProbability >= $0 } ?? true }
        if kept.count < minimum { kept = Array(ranked.prefix(min(minimum, topK))) }
        return kept.map(\.name)
    }
}

/// How answers are decoded.
public struct ExtractionOptions: Sendable {
    /// Longest answer of one question, in tokens, per stage.
    public var budget: [Stage: Int] = [.relations: 128, .heads: 128, .facts: 128]
    /// One budget for every stage.
    public var maxNewTokens: Int {
        get { budget.values.max() ?? 0 }
        set { budget = [.relations: newValue, .heads: newValue, .facts: newValue] }
    }
    public var sampling = SamplingOptions.greedy
    public var seed: UInt64 = 0
    public var batchDocuments = 4
    public var maxRelations = 16
    public var maxHeads = 8
    /// End an answer when it repeats one of its lines (answers are lists; a repeat is a loop). Off: the
    /// answer goes on to its end or budget, and the parser drops the repeats.
    public var stopOnRepeatedLine = true
    /// Answers spell only what can be right: catalogue names in the relations answer, passage spans on word
    /// boundaries in the heads and facts answers of D_R_H_F(_desc) (AnswerConstraints.swift); nothing twice
    /// unless `stopOnRepeatedLine`, where a repeat ends the answer.
    public var constrained = false
    public var relations = RelationsMethod.generate
    public var relationSelection = RelationSelection()
    /// Added to the end-of-answer logits, per stage (GenerationOptions.stopBias).
    public var endBias: [Stage: Float] = [:]
    /// When set (D_R_H_F): a subject listed for one relation of a document is also a subject of another of
    /// its relations when its line, as the first line of that relation's heads answer, has at least this
    /// log-probability (nats).
    public var sharedHeadsMinLogProbability: Double?
    /// How answers are read back (span repair, matching, dedupe, self-relations); the extractor's parser
    /// is built from these and the paradigm's catalogue.
    public var parser = ParserOptions()
    /// Facts whose object is their subject are dropped (`parser.dropSelfRelations`).
    public var dropSelfRelations: Bool {
        get { parser.dropSelfRelations }
        set { parser.dropSelfRelations = newValue }
    }
    /// Largest Float32 copy of the base's 4-bit weights kept while extracting or training (SmolLM2-135M over
    /// NF4: 0.4 GB; Gemma 3 270M over its own blocks, with its tied head: 1.1 GB).
    public var dequantizedCopyLimit = 2 << 30
    /// Facts questions of one relation of a document read their shared first tokens once (`shareStems`).
    public var shareQuestionStems = true
    public init() {}
}

/// Where answers come from before the model is asked: a source that has the answer to a question gives
/// it (the gold answer, an answer generated before); one that has none returns nil and the model answers.
///
///     x.answerSource = AnswerSources([GoldAnswers(builder: b, stages: [.relations]), RecordedAnswers(predictions)])
public protocol AnswerSource {
    /// The answer text to `query` (a question of `stage`) about `doc`, or nil: the model answers it.
    func answer(_ stage: Stage, _ doc: Document, _ query: StageQuery) throws -> String?
}

/// An answer source from a function (for tests and one-off sources).
public struct AnswerFunction: AnswerSource {
    let body: (Stage, Document, StageQuery) throws -> String?
    public init(_ body: @escaping (Stage, Document, StageQuery) throws -> String?) { self.body = body }
    public func answer(_ stage: Stage, _ doc: Document, _ query: StageQuery) throws -> String? { try body(stage, doc, query) }
}

/// Several sources asked in order: the first that has an answer gives it.
public struct AnswerSources: AnswerSource {
    public var sources: [any AnswerSource]
    public init(_ sources: [any AnswerSource]) { self.sources = sources }
    public func answer(_ stage: Stage, _ doc: Document, _ query: StageQuery) throws -> String? {
        for s in sources { if let a = try s.answer(stage, doc, query) { return a } }
        return nil
    }
}

extension StageQuery {
    /// The key of this question's answer in a prediction's raw answers: `relations`, `heads | <relation>`,
    /// `facts`, `facts | <relation>`, `facts | <relation> | <head>`.
    public var answerKey: String {
        ([stage.rawValue] + [relation, head].compactMap { $0 }).joined(separator: " | ")
    }
}

/// What an extraction cost.
/// A stage's generation counts (`ExtractionStatistics.decoding`).
public struct DecodeCounts: Codable, Sendable, Equatable {
    public var steps = 0, tokens = 0, forced = 0
    public init(steps: Int = 0, tokens: Int = 0, forced: Int = 0) { self.steps = steps; self.tokens = tokens; self.forced = forced }
    mutating func add(_ o: DecodeCounts) { steps += o.steps; tokens += o.tokens; forced += o.forced }
    /// Sequences decoded per model step, on average.
    public var meanBatch: Double { steps > 0 ? Double(tokens) / Double(steps) : 0 }
}

public struct ExtractionStatistics: Codable, Sendable {
    public var documents = 0
    /// Questions the model answered (generated, or scored in the relations stage by likelihood).
    public var questions = 0
    /// Questions the model answered, by stage name; absent in files written before it was kept.
    public var questionsByStage: [String: Int]?
    /// Questions an answer source answered instead of the model (absent: none, or written before it was kept).
    public var suppliedAnswers: Int?
    /// Tokens read (each prefix once per adapter in a batch, questions, scored continuations) and written.
    public var promptTokens = 0
    public var generatedTokens = 0
    public var seconds = 0.0
    /// Seconds spent answering each stage (generation, scoring, its share of document prefixes), by stage
    /// name; absent in files written before it was kept. Under `mpirun` these add the ranks' seconds, while
    /// `seconds` is the job's wall time (so the stages add up to about `seconds` × ranks).
    public var stageSeconds: [String: Double]?
    /// Generation by stage name: model steps, tokens written, tokens forced by the constraint (one allowed);
    /// tokens / steps is the mean batch of a step. Absent in files written before it was kept.
    public var decoding: [String: DecodeCounts]?
    public init() {}
    mutating func addDecoding(_ stage: Stage, _ t: GenerationTally) {
        decoding = decoding ?? [:]
        decoding![stage.rawValue, default: DecodeCounts()].add(DecodeCounts(steps: t.steps, tokens: t.tokens, forced: t.forced))
    }
    mutating func addTime(_ stage: Stage, since start: Date) {
        stageSeconds = stageSeconds ?? [:]
        stageSeconds![stage.rawValue, default: 0] += Date().timeIntervalSince(start)
    }
    mutating func addQuestions(_ stage: Stage, _ n: Int) {
        questions += n
        questionsByStage = questionsByStage ?? [:]
        questionsByStage![stage.rawValue, default: 0] += n
    }
    mutating func addSupplied(_ n: Int) {
        guard n > 0 else { return }
        suppliedAnswers = (suppliedAnswers ?? 0) + n
    }
    /// Adds another stretch of work's counts (another rank's batch).
    mutating func add(_ o: ExtractionStatistics) {
        documents += o.documents; questions += o.questions; promptTokens += o.promptTokens
        generatedTokens += o.generatedTokens; seconds += o.seconds
        if let q = o.questionsByStage { questionsByStage = (questionsByStage ?? [:]).merging(q, uniquingKeysWith: +) }
        if let s = o.stageSeconds { stageSeconds = (stageSeconds ?? [:]).merging(s, uniquingKeysWith: +) }
        if let a = o.suppliedAnswers { suppliedAnswers = (suppliedAnswers ?? 0) + a }
        if let d = o.decoding { decoding = (decoding ?? [:]).merging(d) { var x = $0; x.add($1); return x } }
    }
    /// What was counted since `earlier` (a snapshot of these statistics).
    func minus(_ earlier: ExtractionStatistics) -> ExtractionStatistics {
        var d = ExtractionStatistics()
        d.documents = documents - earlier.documents; d.questions = questions - earlier.questions
        d.promptTokens = promptTokens - earlier.promptTokens; d.generatedTokens = generatedTokens - earlier.generatedTokens
        d.seconds = seconds - earlier.seconds
        if let q = questionsByStage { d.questionsByStage = q.merging((earlier.questionsByStage ?? [:]).mapValues { -$0 }, uniquingKeysWith: +) }
        if let s = stageSeconds { d.stageSeconds = s.merging((earlier.stageSeconds ?? [:]).mapValues { -$0 }, uniquingKeysWith: +) }
        if let a = suppliedAnswers { d.suppliedAnswers = a - (earlier.suppliedAnswers ?? 0) }
        if let c = decoding {
            d.decoding = c.merging((earlier.decoding ?? [:]).mapValues { DecodeCounts(steps: -$0.steps, tokens: -$0.tokens, forced: -$0.forced) }) {
                var x = $0; x.add($1); return x
            }
        }
        return d
    }
    public var documentsPerMinute: Double { seconds > 0 ? Double(documents) * 60 / seconds : 0 }
    public var tokensPerSecond: Double { seconds > 0 ? Double(promptTokens + generatedTokens) / seconds : 0 }
    public var generatedPerSecond: Double { seconds > 0 ? Double(generatedTokens) / seconds : 0 }
}

/// Turns documents into triplets with a paradigm's stage questions.
///
///     let x = Extractor(model: base.model, format: format, builder: builder,
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
    public internal(set) var statistics = ExtractionStatistics()
    /// Answers given before the model is asked (gold answers fed into a stage, answers generated before);
    /// the model answers every question the source has no answer for. nil: the model answers everything.
    public var answerSource: (any AnswerSource)?
    lazy var lineBreaks: Set<Int> = format.lineBreakTokens
    /// The vocabulary's token bytes as a trie, built on the first constrained answer.
    lazy var vocabularyTrie = VocabularyTrie(vocabularySize: format.tokenizer.vocabularySize) { self.format.tokenizer.textBytes(of: $0) }
    lazy var relationNames = try? NameListAutomaton(names: builder.catalogue.names)
    lazy var relationNamesOrRepeats = try? NameListAutomaton(names: builder.catalogue.names, allowsRepeats: true)
    /// Within one batch of documents: each document prefix already run through the model, by adapter and
    /// prefix text, so an adapter that answers several stages reads each document once. nil outside a
    /// batch (an adapter in training changes between calls).
    var prefixStates: [String: [LayerKV]]?

    /// The keys/values of `ids` (the encoding of `text`) under the active adapter `adapter`, from this
    /// batch's cache when there.
    func prefixState(_ ids: [Int], text: String, adapter: String?) throws -> [LayerKV] {
        let key = (adapter ?? "") + "\u{1}" + text
        if let s = prefixStates?[key] { return s }
        let s = try model.decodingPast(ids: ids)
        prefixStates?[key] = s
        statistics.promptTokens += ids.count
        return s
    }

    /// An extractor whose answers are read by a parser of `builder`'s catalogue with `options.parser`.
    public init(model: LlamaModel, format: PromptFormat, builder: ParadigmBuilder,
                adapters: [Stage: String], options: ExtractionOptions = ExtractionOptions()) {
        self.model = model; self.format = format; self.builder = builder
        self.parser = OutputParser(catalogue: builder.catalogue, options: options.parser)
        self.adapters = adapters; self.options = options
    }

    /// The answer to each query of each document (`queries[d]` are document d's), one stage at a time: from
    /// the answer source where it has one, else generated by the stage's adapter.
    public func ask(_ docs: [Document], _ queries: [[StageQuery]], stage: Stage) throws -> [[String]] {
        var answers = queries.map { Array(repeating: "", count: $0.count) }
        var pending = queries.map { Array(repeating: true, count: $0.count) }
        if let answerSource {
            var supplied = 0
            for (d, doc) in docs.enumerated() {
                for (k, q) in queries[d].enumerated() {
                    if let a = try answerSource.answer(stage, doc, q) { answers[d][k] = a; pending[d][k] = false; supplied += 1 }
                }
            }
            statistics.addSupplied(supplied)
        }
        guard pending.contains(where: { $0.contains(true) }) else { return answers }
        let start = Date()
        defer { statistics.addTime(stage, since: start) }
        model.activateAdapter(adapters[stage])
        model.setTraining(false)
        // Queries of a document that share a prefix text form one group (all of them, in document-first order).
        var groups: [PromptGroup] = [], slots: [[(doc: Int, query: Int)]] = [], rules: [[any TokenConstraint]] = []
        var states: [Int: [LayerKV]] = [:]
        for (d, doc) in docs.enumerated() {
            var byPrefix: [String: Int] = [:]
            for (k, q) in queries[d].enumerated() where pending[d][k] {
                let (prefix, question) = try builder.prompt(doc, q)
                if byPrefix[prefix] == nil {
                    byPrefix[prefix] = groups.count
                    groups.append(PromptGroup(prefix: format.encodePrefix(prefix), prompts: []))
                    slots.append([]); rules.append([])
                    if !groups[groups.count - 1].prefix.isEmpty { states[groups.count - 1] = try prefixState(groups[groups.count - 1].prefix, text: prefix, adapter: adapters[stage]) }
                }
                let g = byPrefix[prefix]!
                groups[g].prompts.append(format.encodeQuestion(question))
                slots[g].append((d, k))
                if options.constrained { rules[g].append(try constraint(doc, q) ?? AnyTokenAllowed()) }
            }
        }
        guard !groups.isEmpty else { return answers }
        if options.shareQuestionStems {
            try shareStems(&groups, &slots, &rules, &states, queries: queries)
        }
        let flatRules = rules.flatMap { $0 }
        let tally = GenerationTally()
        let out = try model.generate(groups: groups, options: GenerationOptions(
            maxNewTokens: options.budget[stage] ?? 128, sampling: options.sampling, stopTokens: format.stopTokens, seed: options.seed,
            lineBreaks: options.stopOnRepeatedLine ? lineBreaks : [], stopBias: options.endBias[stage] ?? 0),
            constraints: options.constrained ? flatRules : nil, prefixStates: states, tally: tally)
        statistics.addDecoding(stage, tally)
        for (g, group) in groups.enumerated() {
            statistics.promptTokens += group.prompts.reduce(0) { $0 + $1.count }
            for (i, slot) in slots[g].enumerated() {
                statistics.generatedTokens += out[g][i].count
                answers[slot.doc][slot.query] = format.decodeAnswer(out[g][i])
            }
            statistics.addQuestions(stage, group.prompts.count)
        }
        return answers
    }

    /// The facts questions of one relation of a document share their first tokens (the question up to the
    /// subject, with the relation's description): such a group of at least two is split off its document's
    /// group with those tokens as a stem, run once after the document (`decodingPast(ids:after:)`), so each
    /// question reads only its own rest. Stems shorter than `minimumStem` tokens are not worth a past.
    func shareStems(_ groups: inout [PromptGroup], _ slots: inout [[(doc: Int, query: Int)]], _ rules: inout [[any TokenConstraint]],
                    _ states: inout [Int: [LayerKV]], queries: [[StageQuery]], minimumStem: Int = 8) throws {
        var newGroups: [PromptGroup] = [], newSlots: [[(doc: Int, query: Int)]] = [], newRules: [[any TokenConstraint]] = []
        var newStates: [Int: [LayerKV]] = [:]
        for (g, group) in groups.enumerated() {
            // Prompts of this group by relation, in their order; the rest stay with the document prefix.
            var byRelation: [String: [Int]] = [:], order: [String] = []
            for (i, slot) in slots[g].enumerated() {
                guard case let .factsOfHead(relation, _) = queries[slot.doc][slot.query] else { continue }
                if byRelation[relation] == nil { order.append(relation) }
                byRelation[relation, default: []].append(i)
            }
            var stemmed = Set<Int>()
            var split: [(stem: [Int], members: [Int])] = []
            for relation in order {
                let members = byRelation[relation]!
                guard members.count >= 2 else { continue }
                let prompts = members.map { group.prompts[$0] }
                // The longest common first tokens, leaving every question at least one token of its own.
                var n = prompts.map(\.count).min()! - 1
                for (j, t) in prompts[0].prefix(n).enumerated() where prompts.contains(where: { $0[j] != t }) { n = j; break }
                guard n >= minimumStem else { continue }
                split.append((Array(prompts[0].prefix(n)), members))
                stemmed.formUnion(members)
            }
            let rest = slots[g].indices.filter { !stemmed.contains($0) }
            if !rest.isEmpty {
                if let s = states[g] { newStates[newGroups.count] = s }
                newGroups.append(PromptGroup(prefix: group.prefix, prompts: rest.map { group.prompts[$0] }))
                newSlots.append(rest.map { slots[g][$0] })
                newRules.append(rules[g].isEmpty ? [] : rest.map { rules[g][$0] })
            }
            // The document's past, run once for all of its stems when the caller did not give it.
            let document = split.isEmpty || group.prefix.isEmpty ? nil : try states[g] ?? model.decodingPast(ids: group.prefix)
            for (stem, members) in split {
                newStates[newGroups.count] = try document.map { try model.decodingPast(ids: stem, after: $0) } ?? model.decodingPast(ids: stem)
                statistics.promptTokens += stem.count
                newGroups.append(PromptGroup(prefix: group.prefix + stem, prompts: members.map { Array(group.prompts[$0].dropFirst(stem.count)) }))
                newSlots.append(members.map { slots[g][$0] })
                newRules.append(rules[g].isEmpty ? [] : members.map { rules[g][$0] })
            }
        }
        groups = newGroups; slots = newSlots; rules = newRules; states = newStates
    }

    /// The rule a constrained answer to `q` follows; nil where the paradigm's answer has no fixed form here
    /// (the facts questions of D_F, D_RS_F and D_R_F write free heads).
    func constraint(_ doc: Document, _ q: StageQuery) throws -> (any TokenConstraint)? {
        let stops = format.stopTokens, repeats = options.stopOnRepeatedLine
        switch q {
        case .relations:
            return (repeats ? relationNamesOrRepeats : relationNames).map { AutomatonConstraint($0, trie: vocabularyTrie, stopTokens: stops) }
        case .heads:
            return AutomatonConstraint(try PassageSpanLinesAutomaton.heads(passage: doc.passage, allowsRepeats: repeats),
                                       trie: vocabularyTrie, stopTokens: stops)
        case let .factsOfHead(relation, head):
            return AutomatonConstraint(try PassageSpanLinesAutomaton.facts(passage: doc.passage, relation: relation, head: head,
                                                                           allowsRepeats: repeats),
                                       trie: vocabularyTrie, stopTokens: stops)
        case .allFacts, .factsGivenRelations, .factsOfRelation:
            return nil
        }
    }

    /// log p(name⏎ | document, relations question) of every catalogue relation, as the first line of the
    /// relations answer, scored with the relations stage's adapter; each document's prompt is computed once.
    public func relationLikelihoods(_ docs: [Document]) throws -> [[(name: String, logProbability: Double)]] {
        guard !docs.isEmpty else { return [] }
        statistics.addQuestions(.relations, docs.count)
        let start = Date()
        defer { statistics.addTime(.relations, since: start) }
        model.activateAdapter(adapters[.relations])
        model.setTraining(false)
        let names = builder.catalogue.names
        let continuations = names.map { format.tokenizer.encode($0 + "\n") }
        return try docs.map { doc in
            let (prefix, question) = try builder.prompt(doc, .relations)
            let prefixIds = format.encodePrefix(prefix), questionIds = format.encodeQuestion(question)
            let lp = try model.logProbabilities(of: continuations, after: questionIds,
                                                past: prefixState(prefixIds, text: prefix, adapter: adapters[.relations]))
            statistics.promptTokens += questionIds.count + continuations.reduce(0) { $0 + $1.count }
            return Array(zip(names, lp)).map { (name: $0.0, logProbability: $0.1) }
        }
    }

    /// For each document and relation: the subjects listed for the document's other relations, with
    /// log p("subject"⏎ | document, heads question of the relation) as the answer's first line, under the
    /// heads stage's adapter. Subjects already listed for the relation are not scored.
    func sharedHeadLikelihoods(_ docs: [Document], _ relations: [[String]], _ heads: [[String: [String]]]) throws
        -> [[String: [(name: String, logProbability: Double)]]] {
        let start = Date()
        defer { statistics.addTime(.heads, since: start) }
        model.activateAdapter(adapters[.heads])
        model.setTraining(false)
        return try docs.indices.map { d in
            let candidates = unique(relations[d].flatMap { heads[d][$0] ?? [] })
            var out: [String: [(name: String, logProbability: Double)]] = [:]
            for r in relations[d] {
                let missing = candidates.filter { !(heads[d][r] ?? []).contains($0) }
                guard !missing.isEmpty else { continue }
                let (prefix, question) = try builder.prompt(docs[d], .heads(relation: r))
                let questionIds = format.encodeQuestion(question)
                let continuations = missing.map { format.tokenizer.encode(TripletFormat.quote($0) + "\n") }
                let lp = try model.logProbabilities(of: continuations, after: questionIds,
                                                    past: prefixState(format.encodePrefix(prefix), text: prefix, adapter: adapters[.heads]))
                statistics.promptTokens += questionIds.count + continuations.reduce(0) { $0 + $1.count }
                out[r] = Array(zip(missing, lp)).map { (name: $0.0, logProbability: $0.1) }
            }
            return out
        }
    }

    /// Predictions for `docs`, `options.batchDocuments` documents at a time; `progress(done)` after each batch.
    /// A 4-bit base whose Float32 copy fits in `options.dequantizedCopyLimit` bytes is dequantised once and
    /// kept (the same products, not dequantised again for every prefill).
    public func extract(_ docs: [Document], progress: ((Int) -> Void)? = nil) throws -> [PredictionRecord] {
        model.keepDequantizedCopies(within: options.dequantizedCopyLimit)
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
        prefixStates = [:]
        defer { prefixStates = nil }
        let n = docs.count, stages = builder.paradigm.stages
        let passages = docs.map(\.passage)
        var relations = Array(repeating: [String](), count: n)
        var heads = Array(repeating: [String: [String]](), count: n)
        var triples = Array(repeating: [Triple](), count: n)
        var unparsed = Array(repeating: [String](), count: n)
        var raw = Array(repeating: [String: JSONValue](), count: n)

        if stages.contains(.relations) && options.relations == .likelihood {
            // documents whose relations the answer source gives are not scored
            var given: [Int: String] = [:]
            if let answerSource {
                for (d, doc) in docs.enumerated() { if let a = try answerSource.answer(.relations, doc, .relations) { given[d] = a } }
                statistics.addSupplied(given.count)
            }
            let scoredDocs = docs.indices.filter { given[$0] == nil }
            for (d, scored) in zip(scoredDocs, try relationLikelihoods(scoredDocs.map { docs[$0] })) {
                relations[d] = Array(options.relationSelection.select(scored).prefix(options.maxRelations))
                raw[d]["relations"] = .string(relations[d].joined(separator: "\n"))
                raw[d]["relation log-probabilities"] = .object(Dictionary(uniqueKeysWithValues: scored.map {
                    ($0.name, .number(($0.logProbability * 1000).rounded() / 1000))
                }))
            }
            for (d, answer) in given {
                raw[d]["relations"] = .string(answer)
                let p = parser.parseRelations(answer)
                relations[d] = Array(unique(p.items).prefix(options.maxRelations))
                unparsed[d] += p.unparsed
            }
        } else if stages.contains(.relations) {
            let answers = try ask(docs, Array(repeating: [.relations], count: n), stage: .relations)
            for d in 0..<n {
                raw[d]["relations"] = .string(answers[d][0])
                let p = parser.parseRelations(answers[d][0])
                relations[d] = Array(unique(p.items).prefix(options.maxRelations))
                unparsed[d] += p.unparsed
            }
            if options.relations == .union {
                // documents whose relations the answer source gave keep them as given
                var scoredDocs = Array(0..<n)
                if let answerSource { scoredDocs = try scoredDocs.filter { try answerSource.answer(.relations, docs[$0], .relations) == nil } }
                for (d, scored) in zip(scoredDocs, try relationLikelihoods(scoredDocs.map { docs[$0] })) {
                    let added = options.relationSelection.additions(to: relations[d], from: scored)
                    relations[d] = Array((relations[d] + added).prefix(options.maxRelations))
                    raw[d]["relations added by likelihood"] = .string(added.joined(separator: "\n"))
                    raw[d]["relation log-probabilities"] = .object(Dictionary(uniqueKeysWithValues: scored.map {
                        ($0.name, .number(($0.logProbability * 1000).rounded() / 1000))
                    }))
                }
            }
        }
        // The paradigm's stage chain (DocRE): heads questions from the parsed relations where it asks them,
        // then facts questions from the relations and the subjects listed.
        let paradigm = builder.paradigm
        if stages.contains(.heads) {
            let headQueries = relations.map { paradigm.headQuestions(relations: $0) ?? [] }
            let answers = try ask(docs, headQueries, stage: .heads)
            for d in 0..<n {
                for (k, r) in relations[d].enumerated() {
                    raw[d][StageQuery.heads(relation: r).answerKey] = .string(answers[d][k])
                    let p = parser.parseHeads(answers[d][k], passage: passages[d])
                    let hs = Array(unique(p.items).prefix(options.maxHeads))
                    heads[d][r] = hs
                    unparsed[d] += p.unparsed
                }
            }
            if let threshold = options.sharedHeadsMinLogProbability, answerSource == nil {
                for (d, byRelation) in try sharedHeadLikelihoods(docs, relations, heads).enumerated() {
                    for (r, scored) in byRelation {
                        let added = scored.filter { $0.logProbability >= threshold }.map(\.name)
                        heads[d][r] = Array((heads[d][r] ?? []) + added).prefix(options.maxHeads).map { $0 }
                        raw[d]["shared heads | \(r)"] = .object(Dictionary(uniqueKeysWithValues: scored.map {
                            ($0.name, .number(($0.logProbability * 1000).rounded() / 1000))
                        }))
                    }
                }
            }
        }
        let factQueries = (0..<n).map { paradigm.factQuestions(relations: relations[$0], heads: heads[$0]) }
        let answers = try ask(docs, factQueries, stage: .facts)
        for d in 0..<n {
            for (k, q) in factQueries[d].enumerated() {
                raw[d][q.answerKey] = .string(answers[d][k])
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
