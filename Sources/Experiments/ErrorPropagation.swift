// Where the pipeline's errors come from: a run's extraction repeated with gold answers fed into its stages
// in turn (gold relations; gold relations and heads), beside its own predictions, so that the F1 each stage
// loses downstream is the difference between rows. Answers come from answer sources: gold for the fed
// stages, then answers generated before (the run's predictions, earlier rows), then the model.
// Not scoring (DocRE's Evaluator) and not the report's table (Report).
import DocRE
import Foundation
import RHF

/// The gold answers of some stages' questions, as the paradigm writes them (the oracle's answers); a
/// question the gold structure does not ask (a subject that is no gold subject of the relation) has the
/// empty answer. Questions of other stages are left to the next source.
public final class GoldAnswers: AnswerSource {
    public let builder: ParadigmBuilder
    public let stages: Set<Stage>
    /// Each document's gold answers by question, built on its first question.
    var byTitle: [String: [StageQuery: String]] = [:]

    public init(builder: ParadigmBuilder, stages: Set<Stage>) { self.builder = builder; self.stages = stages }

    public func answer(_ stage: Stage, _ doc: Document, _ query: StageQuery) throws -> String? {
        guard stages.contains(stage) else { return nil }
        if byTitle[doc.title] == nil {
            var answers: [StageQuery: String] = [:]
            for (q, lines) in builder.goldQueries(try GoldView(doc, catalogue: builder.catalogue)) {
                answers[q] = lines.joined(separator: "\n")
            }
            byTitle[doc.title] = answers
        }
        return byTitle[doc.title]?[query] ?? ""
    }
}

/// Answers generated before: each prediction's raw answers by question (`StageQuery.answerKey`), matched
/// to documents by title. Only answers decoded with the same adapters and settings may be reused so. The
/// facts question of D_RS_F names the relations the first stage gave, which its key does not: its answer is
/// reused only for the same relations.
public struct RecordedAnswers: AnswerSource {
    var byTitle: [String: [String: String]] = [:]
    /// Per title and facts key, the relations the recorded prediction had named.
    var relationsOf: [String: [String]] = [:]
    public init(_ records: [PredictionRecord] = []) { add(records) }

    /// Adds the raw answers of `records` (an answer already held for a question is kept).
    public mutating func add(_ records: [PredictionRecord]) {
        for r in records {
            guard case .object(let raw)? = r.raw else { continue }
            var added = false
            for (key, value) in raw {
                if case .string(let text) = value, byTitle[r.title]?[key] == nil { byTitle[r.title, default: [:]][key] = text; added = true }
            }
            if added, relationsOf[r.title] == nil { relationsOf[r.title] = r.relations }
        }
    }

    /// Answers held.
    public var count: Int { byTitle.values.reduce(0) { $0 + $1.count } }

    public func answer(_ stage: Stage, _ doc: Document, _ query: StageQuery) throws -> String? {
        if case .factsGivenRelations(let rs) = query, relationsOf[doc.title] != rs { return nil }
        return byTitle[doc.title]?[query.answerKey]
    }
}

/// Which stages a row of the error-propagation table feeds with gold answers.
public enum GoldFeed: String, Codable, CaseIterable, Sendable {
    /// Nothing: the run's own pipeline.
    case none
    /// Relations: the run's adapters answer the heads and facts questions of the gold relations.
    case relations
    /// Relations and heads: the facts questions of the gold (relation, subject) pairs.
    case relationsAndHeads = "relations_heads"
    /// Every stage: the pipeline's own ceiling. The oracle scores 100; the pipeline keeps at most
    /// `extraction.max_relations` relations per document and `max_heads` subjects per relation, which a
    /// document with more gold ones loses here too.
    case allStages = "all"

    public var goldStages: Set<Stage> {
        switch self {
        case .none: []
        case .relations: [.relations]
        case .relationsAndHeads: [.relations, .heads]
        case .allStages: Set(Stage.allCases)
        }
    }

    /// As a table cell.
    public var label: String {
        switch self {
        case .none: "none (fully predicted)"
        case .relations: "relations"
        case .relationsAndHeads: "relations and heads"
        case .allStages: "every stage (oracle)"
        }
    }
}

/// The scores of each row of one error-propagation run.
public struct ErrorPropagationResult: Codable {
    public struct Row: Codable {
        public var feed: GoldFeed
        /// AutoRE scoring (with per-document counts) and the per-stage scores of the row's predictions.
        public var autore: Scores
        public var stages: Scores
        /// What the row cost: questions the model answered (by stage) and answers given by a source.
        public var extraction: ExtractionStatistics
        /// Documents whose predictions an earlier, interrupted run of this row had written (not timed again).
        public var resumedDocuments: Int
        /// For a run trained with held-out relations: F1 on the seen and on the held-out relations of this
        /// row's predictions (with gold relations fed, whether the later stages can answer for a relation
        /// training never showed).
        public var unseen: UnseenRelationScores?
    }
    /// The run whose adapters answer (its config's name) and its folder as given.
    public var experiment: String
    public var run: String
    public var split: String
    public var documents: Int
    public var rows: [Row]
    /// How the answers were decoded and where reused answers came from.
    public var notes: [String]
    public var command: String?

    public func row(_ feed: GoldFeed) -> Row? { rows.first { $0.feed == feed } }

    /// The file a results folder keeps it in: `oracle_<split>.json`.
    public static func file(in dir: ResultsDirectory, split: String) -> String { dir.file("oracle_\(ResultsDirectory.tag(split)).json") }
    public static func predictions(in dir: ResultsDirectory, split: String, feed: GoldFeed) -> String {
        dir.file("predictions_\(ResultsDirectory.tag(split))_gold-\(feed.rawValue).jsonl")
    }

    public static func read(_ path: String) throws -> ErrorPropagationResult {
        guard let data = FileManager.default.contents(atPath: path) else { throw AutoREError("\(path): cannot read the file") }
        do { return try ResultsJSON.decode(ErrorPropagationResult.self, from: data) } catch {
            throw AutoREError("\(path): not an error-propagation results file (\(error))")
        }
    }
}

/// Runs the rows of the error-propagation table with one extractor's adapters and settings.
///
///     let r = try ErrorPropagation(extractor: x).run(docs, recorded: runPredictions, experiment: "main_one_r48",
///                                                    run: "Experiments/runs/main_one_r48", split: "select[0:20]")
public struct ErrorPropagation {
    /// The template of every row's extractor (its model, adapters, prompts and decoding).
    public let extractor: Extractor
    public var feeds: [GoldFeed] = [.none, .relations, .relationsAndHeads, .allStages]
    /// Relations the run's training never showed (`data.held_out_relations`): each row is also scored on
    /// them apart.
    public var heldOutRelations: [String] = []

    public init(extractor: Extractor) { self.extractor = extractor }

    /// Each feed in turn over `docs`: gold answers for its stages, then the answers in `recorded` and those
    /// generated by earlier rows, then the model. With `folder`, each row's predictions are written there
    /// (`predictions_<split>_gold-<feed>.jsonl`, resumed when present) and the result as `oracle_<split>.json`.
    public func run(_ docs: [Document], recorded: [PredictionRecord], experiment: String, run: String, split: String,
                    folder: ResultsDirectory? = nil, notes: [String] = [], command: String? = nil,
                    say: (String) -> Void = { _ in }) throws -> ErrorPropagationResult {
        let titles = Set(docs.map(\.title))
        var reusable = RecordedAnswers(recorded.filter { titles.contains($0.title) })
        let ev = Evaluator(documents: docs, catalogue: extractor.builder.catalogue)
        var rows: [ErrorPropagationResult.Row] = []
        try folder?.create()
        // A row whose predictions an earlier run wrote in full keeps that run's statistics.
        let earlier = try folder.map { ErrorPropagationResult.file(in: $0, split: split) }
            .flatMap { FileManager.default.fileExists(atPath: $0) ? try ErrorPropagationResult.read($0) : nil }
        for feed in feeds {
            let x = Extractor(model: extractor.model, format: extractor.format, builder: extractor.builder, adapters: extractor.adapters, options: extractor.options)
            x.answerSource = AnswerSources([GoldAnswers(builder: extractor.builder, stages: feed.goldStages), reusable])
            let preds: [PredictionRecord]
            if let folder {
                preds = try x.extract(docs, resumingAt: ErrorPropagationResult.predictions(in: folder, split: split, feed: feed),
                                      label: "gold \(feed.rawValue)")
            } else {
                preds = try x.extract(docs)
            }
            reusable.add(preds)
            var autore = ev.autore(preds), stages = ev.stages(preds)
            autore.perRelation = [:]; stages.perRelation = [:]; stages.perDocument = nil
            var row = ErrorPropagationResult.Row(feed: feed, autore: autore, stages: stages, extraction: x.statistics,
                                                 resumedDocuments: docs.count - x.statistics.documents)
            if !heldOutRelations.isEmpty {
                row.unseen = UnseenRelationScores(heldOut: heldOutRelations, documents: docs, predictions: preds,
                                                  catalogue: extractor.builder.catalogue)
            }
            if x.statistics.documents == 0, let before = earlier?.row(feed), earlier?.documents == docs.count {
                row.extraction = before.extraction; row.resumedDocuments = before.resumedDocuments
            }
            rows.append(row)
            let s = row.extraction
            say(String(format: "gold %@: AutoRE F1 %.2f (P %.2f, R %.2f); the model answered %d questions, %d answers given",
                       feed.label, 100 * autore.total.f1, 100 * autore.total.precision, 100 * autore.total.recall,
                       s.questions, s.suppliedAnswers ?? 0))
        }
        var notes = notes
        let recordedHere = recorded.filter { titles.contains($0.title) }
        if Set(recordedHere.map(\.title)) == titles, let none = rows.first(where: { $0.feed == .none })?.autore.total {
            let then = ev.autore(recordedHere).total
            if then.tp != none.tp || then.fp != none.fp {
                notes.append(String(format: "the reused predictions as they were parsed when extracted score AutoRE F1 %.2f (tp %d, fp %d); their answers parsed again by this build (every row is parsed alike) give the fully predicted row's %.2f (tp %d, fp %d)",
                                    100 * then.f1, then.tp, then.fp, 100 * none.f1, none.tp, none.fp))
            }
        }
        if let all = rows.first(where: { $0.feed == .allStages })?.autore.total, all.recall < 1 {
            notes.append(String(format: "with every stage fed gold, recall is %.2f: the pipeline keeps at most %d relations per document and %d subjects per relation (extraction.max_relations, max_heads), fewer than some documents have; the oracle alone scores 100",
                                100 * all.recall, extractor.options.maxRelations, extractor.options.maxHeads))
        }
        let result = ErrorPropagationResult(experiment: experiment, run: run, split: split, documents: docs.count, rows: rows,
                                            notes: notes, command: command)
        if let folder { try ResultsJSON.write(result, to: ErrorPropagationResult.file(in: folder, split: split)) }
        return result
    }
}

extension ErrorPropagation {
    /// The error-propagation table of a trained run on a split: the run's adapters and stored config (its
    /// paradigm, prompts and decoding), its predictions reused where they answer the same question
    /// (`predictions`, default the run's results folder's predictions of the split, when decoded with the
    /// same settings), written into `results` when given.
    public static func run(runFolder: String, split: String, dataDir: String?, predictions: String?, results: String?,
                           command: String?, say: @escaping (String) -> Void) throws -> ErrorPropagationResult {
        let runModel = try RunModel.open([runFolder])
        let cfg = try ExperimentConfig.parse(runModel.storedConfig.text, file: runModel.storedConfig.source)
        guard cfg.paradigm.stages.count > 1 else {
            throw AutoREError("\(runFolder): \(cfg.paradigm.rawValue) has one stage; gold answers can feed only the later stages of a pipeline")
        }
        if cfg.extraction.sharedHeadsMinLogProbability != nil {
            throw AutoREError("\(runFolder): extraction.shared_heads_min_log_probability adds subjects scored by the model to the heads answers; error propagation runs without it (remove it from a copy of the config)")
        }
        let experiment = try Experiment(config: cfg, dataDir: dataDir)
        let docs = try experiment.documents(split)
        var notes = docs.note.map { [$0] } ?? []

        // The answers generated before: an explicit file, or the run's results folder's.
        var recorded: [PredictionRecord] = []
        let runURL = URL(fileURLWithPath: runFolder).standardizedFileURL
        let resultsOfRun = ResultsDirectory(runURL.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("results").appendingPathComponent(cfg.name))
        if let predictions {
            recorded = try PredictionRecord.load(URL(fileURLWithPath: predictions))
            notes.append("answers reused from \(DataLocation.shown(predictions))")
        } else if runURL.deletingLastPathComponent().lastPathComponent == "runs", let path = resultsOfRun.predictionsScored(as: split) {
            if let stored = try? ExperimentConfig.load(path: resultsOfRun.file("config.yaml")), stored.extraction != cfg.extraction {
                throw AutoREError("\(resultsOfRun.file("config.yaml")): its predictions were decoded with other extraction settings than \(runFolder)'s; pass --predictions to reuse another file, or none")
            }
            recorded = try PredictionRecord.load(URL(fileURLWithPath: path))
            notes.append("answers reused from \(DataLocation.shown(path))")
        } else {
            notes.append("no earlier predictions: every answer not fed with gold is generated")
        }

        let (base, map) = try runModel.load(base: .file(cfg.baseModel, load: { try LoadedModel(config: cfg) }), paradigm: cfg.paradigm)
        let x = Extractor(model: base.model, format: try PromptFormat(tokenizer: base.tokenizer, chatTemplate: cfg.chatTemplate),
                          builder: experiment.builder, adapters: map, options: ExtractionOptions(cfg.extraction))
        notes.append("\(runModel.described(folder: DataLocation.shown(runFolder))), decoded as its config says")
        var propagation = ErrorPropagation(extractor: x)
        propagation.heldOutRelations = experiment.heldOutRelations
        if !experiment.heldOutRelations.isEmpty {
            notes.append("held out of training: \(experiment.heldOutRelations.joined(separator: ", ")); every row is also scored on them apart")
        }
        return try propagation.run(docs.documents, recorded: recorded, experiment: cfg.name, run: DataLocation.shown(runFolder),
                                                      split: split, folder: results.map { ResultsDirectory(URL(fileURLWithPath: $0)) },
                                                      notes: notes, command: command, say: say)
    }
}
