// Gold answers fed into the pipeline's stages: a stage fed gold never reaches the model, every row scores
// 100 when every answer is gold, answers generated before are reused instead of generated again, and the
// report renders the table with its gains.
import DocRE
import Foundation
import LanguageModels
import TestSupport
import Testing
@testable import Experiments
@testable import RHF
@testable import Reporting

@Suite struct ErrorPropagationTests {
    /// Two labelled documents made from the fixture's (hand-made, Re-DocRED format), titled apart.
    static let docs: [Document] = {
        let labelled = try! DocumentLoader.load(DataLocation.projectData.appendingPathComponent("fixtures/tiny_redocred.json")).filter { !$0.labels.isEmpty }
        return (0..<2).map { i in var d = labelled[i % labelled.count]; d.title += " \(i)"; return d }
    }()

    func extractor(_ paradigm: Paradigm = .D_R_H_F, relations: RelationsMethod = .generate) throws -> Extractor {
        var o = ExtractionOptions()
        o.maxNewTokens = 8; o.batchDocuments = 2; o.relations = relations
        return Extractor(model: try LlamaModel.load(path: TinyByteModel.checkpoint()), format: try PromptFormat(tokenizer: TinyByteModel.tokenizer(), chatTemplate: "none"),
                         builder: try ParadigmBuilder(paradigm: paradigm, catalogue: .standard), adapters: [:], options: o)
    }

    @Test(arguments: [RelationsMethod.generate, .likelihood])
    func goldRelationsNeverAskTheModelForRelations(_ method: RelationsMethod) throws {
        let x = try extractor(relations: method)
        x.answerSource = GoldAnswers(builder: x.builder, stages: [.relations])
        let preds = try x.extract(Self.docs)
        let gold = try Self.docs.map { try GoldView($0, catalogue: .standard).relations }
        #expect(preds.map { Set($0.relations ?? []) } == gold.map { Set($0) })
        #expect(x.statistics.questionsByStage?["relations"] == nil && x.statistics.stageSeconds?["relations"] == nil)
        // the heads questions are the gold relations', answered by the model
        #expect(x.statistics.questionsByStage?["heads"] == gold.reduce(0) { $0 + $1.count })
        #expect(x.statistics.suppliedAnswers == Self.docs.count)
        // not vacuous: without the source the model answers the relations question of every document
        let y = try extractor(relations: method)
        _ = try y.extract(Self.docs)
        #expect(y.statistics.questionsByStage?["relations"] == Self.docs.count && y.statistics.suppliedAnswers == nil)
    }

    /// Every answer gold (the fed stages from `GoldAnswers`, the others from recorded oracle answers): each row
    /// scores 100 and the model answers nothing.
    @Test func everyRowScoresFullWhenEveryStageIsFedGold() throws {
        let x = try extractor()
        let (oracle, _) = try Oracle(builder: x.builder, parser: x.parser).predictions(for: Self.docs)
        let r = try ErrorPropagation(extractor: x).run(Self.docs, recorded: oracle, experiment: "t", run: "t", split: "select")
        #expect(r.rows.map(\.feed) == [.none, .relations, .relationsAndHeads, .allStages])
        for row in r.rows {
            #expect(row.autore.total.f1 == 1 && row.autore.total.gold > 0, "\(row.feed)")
            #expect(row.extraction.questions == 0 && (row.extraction.suppliedAnswers ?? 0) > 0, "\(row.feed)")
            #expect(row.unseen == nil, "no held-out relations, no scores apart")
        }
        // a run trained with held-out relations: every row is scored on them apart, here all found
        var held = ErrorPropagation(extractor: x)
        held.heldOutRelations = ["spouse"]
        let h = try held.run(Self.docs, recorded: oracle, experiment: "t", run: "t", split: "select")
        for row in h.rows {
            let u = try #require(row.unseen, "\(row.feed)")
            #expect(u.heldOut == ["spouse"] && u.unseen.gold > 0 && u.unseen.f1 == 1 && u.seen.f1 == 1 && u.seen.gold > 0, "\(row.feed)")
            #expect(u.unseen.gold + u.seen.gold == row.autore.total.gold)
        }
    }

    /// The rows of a real (tiny) model: the fully predicted row reuses a previous extraction's answers and
    /// asks nothing; later rows ask the model only what no earlier row answered; the oracle row is 100.
    @Test func answersGeneratedBeforeAreReused() throws {
        let x = try extractor()
        let before = try x.extract(Self.docs)
        let asked = x.statistics.questions
        #expect(asked > 0)
        let dir = ResultsDirectory(FileManager.default.temporaryDirectory.appendingPathComponent("autore-oracle-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: dir.url) }
        let r = try ErrorPropagation(extractor: try extractor()).run(Self.docs, recorded: before, experiment: "t", run: "t",
                                                                    split: "select[0:2]", folder: dir)
        let none = try #require(r.row(.none))
        #expect(none.extraction.questions == 0)
        #expect(try PredictionRecord.load(URL(fileURLWithPath: ErrorPropagationResult.predictions(in: dir, split: "select[0:2]", feed: .none))) == before)
        // with gold relations the heads questions of the relations the model had named are not asked again
        let withGold = try #require(r.row(.relations))
        let goldRelations = try Self.docs.map { Set(try GoldView($0, catalogue: .standard).relations) }
        let named = zip(before, goldRelations).reduce(0) { $0 + $1.1.intersection($1.0.relations ?? []).count }
        #expect(withGold.extraction.questionsByStage?["heads"] ?? 0 == goldRelations.reduce(0) { $0 + $1.count } - named)
        #expect(try #require(r.row(.allStages)).autore.total.f1 == 1)
        #expect(try ErrorPropagationResult.read(ErrorPropagationResult.file(in: dir, split: "select[0:2]")).rows.count == 4)
        #expect(!r.notes.contains { $0.contains("as they were parsed when extracted") })
        // run again into the same folder: every row resumes from its predictions and keeps what it cost then
        let again = try ErrorPropagation(extractor: try extractor()).run(Self.docs, recorded: before, experiment: "t", run: "t",
                                                                        split: "select[0:2]", folder: dir)
        #expect(again.rows.map(\.extraction.questions) == r.rows.map(\.extraction.questions))
        #expect(again.rows.map(\.autore.total.f1) == r.rows.map(\.autore.total.f1))
        // recorded triples that this build's parser would not give (an older parser's) are named in a note
        var older = before
        older[0].triples = [["x", "country", "y"]]
        var e = ErrorPropagation(extractor: try extractor())
        e.feeds = [.none]
        let r2 = try e.run(Self.docs, recorded: older, experiment: "t", run: "t", split: "select[0:2]")
        #expect(r2.row(.none)?.autore.total.tp == none.autore.total.tp)
        #expect(r2.notes.contains { $0.contains("as they were parsed when extracted") })
    }

    /// D_RS_F's facts question names the relations: a recorded answer is reused for the same relations only.
    @Test func factsGivenRelationsAreReusedForTheSameRelationsOnly() throws {
        let doc = Self.docs[0]
        let record = PredictionRecord(title: doc.title, relations: ["country"], triples: [],
                                      raw: .object(["relations": .string("country"), "facts": .string("[\"a\", \"country\", \"b\"]")]))
        let source = RecordedAnswers([record])
        #expect(try source.answer(.facts, doc, .factsGivenRelations(["country"])) == "[\"a\", \"country\", \"b\"]")
        #expect(try source.answer(.facts, doc, .factsGivenRelations(["country", "located in"])) == nil)
        #expect(try source.answer(.relations, doc, .relations) == "country")
    }

    @Test func reportRendersTheTableWithGains() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let x = try extractor()
        let (oracle, _) = try Oracle(builder: x.builder, parser: x.parser).predictions(for: Self.docs)
        // the fully predicted row found nothing; gold relations found the first document's facts
        let empty = Self.docs.map { PredictionRecord(title: $0.title, triples: []) }
        let ev = Evaluator(documents: Self.docs)
        func row(_ f: GoldFeed, _ p: [PredictionRecord]) -> ErrorPropagationResult.Row {
            .init(feed: f, autore: ev.autore(p), stages: ev.stages(p), extraction: ExtractionStatistics(), resumedDocuments: 0)
        }
        let partial = [oracle[0]] + empty.dropFirst()
        let r = ErrorPropagationResult(experiment: "main", run: "Experiments/runs/main", split: "select[0:2]", documents: Self.docs.count,
                                       rows: [row(.none, empty), row(.relations, partial), row(.relationsAndHeads, oracle), row(.allStages, oracle)],
                                       notes: ["a note"], command: "autore eval --stages oracle")
        let dir = ResultsDirectory(root.appendingPathComponent("main_oracle"))
        try dir.create()
        try ResultsJSON.write(r, to: ErrorPropagationResult.file(in: dir, split: "select[0:2]"))
        let md = try Report(root: root, results: root).markdown()
        let section = try #require(md.components(separatedBy: "## Error propagation").dropFirst().first)
        let g1 = ev.autore(partial).total.f1
        #expect(g1 > 0 && g1 < 1)
        #expect(section.contains("### main on select[0:2] (\(Self.docs.count) documents)"))
        #expect(section.contains("| relations | 100.00 | \(ReportTable.pct(ev.autore(partial).total.recall)) | **\(ReportTable.pct(g1))**"))
        #expect(section.contains(String(format: "With gold relations, AutoRE F1 moves by %+.2f points", 100 * g1)))
        #expect(section.contains(String(format: "by %+.2f more", 100 * (1 - g1))))
        #expect(section.contains("0.00 points stay below the pipeline's ceiling (100.00, every stage gold)"))
        #expect(section.contains("- command: `autore eval --stages oracle`"))
    }
}
