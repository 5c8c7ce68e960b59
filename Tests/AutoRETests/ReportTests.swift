// The report's comparison of the main run with single-adapter runs scored on the same documents, and its
// table of timed extractions, on results folders written here by hand.
import DocRE
import Foundation
import Testing
@testable import AutoRE

@Suite struct ReportTests {
    /// Fixture documents and perfect (oracle) predictions for them.
    func documents() throws -> ([Document], [PredictionRecord], RelationCatalogue) {
        let labelled = try DocumentLoader.load(DataLocation.projectData.appendingPathComponent("fixtures/tiny_redocred.json")).filter { !$0.labels.isEmpty }
        let docs = (0..<2).map { i in var d = labelled[i % labelled.count]; d.title += " \(i)"; return d }
        let b = try ParadigmBuilder(paradigm: .D_R_H_F)
        let (preds, _) = try Oracle(builder: b, parser: OutputParser(catalogue: b.catalogue)).predictions(for: docs)
        return (docs, preds, b.catalogue)
    }

    func experiment(_ root: URL, _ name: String, config: String, split: String, predictions: [PredictionRecord],
                    docs: [Document], catalogue: RelationCatalogue) throws -> SplitResult {
        let dir = ResultsDirectory(root.appendingPathComponent(name))
        try dir.create()
        try "name: \(name)\ntraining: {steps: 1}\n\(config)\n".write(toFile: dir.file("config.yaml"), atomically: true, encoding: .utf8)
        let r = SplitResult(experiment: name, split: split, documents: docs, predictions: predictions, trainDocuments: [],
                            catalogue: catalogue, extraction: nil, adapterSteps: [:], notes: [])
        try dir.write(r)
        return r
    }

    @Test func mainRunIsSetBesideTheBestSingleAdapterRunOnTheSameDocuments() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        // main: every document right; one single-adapter run right on the first document only, one with nothing
        let main = try experiment(root, "main_rhf", config: "stage: each\ndata: {train: train}", split: "select[0:20]",
                                  predictions: perfect, docs: docs, catalogue: cat)
        let half = try experiment(root, "abl_half", config: "stage: all\nparadigm: D_F\ndata: {train: \"train[0:100]\"}",
                                  split: "select[0:20]", predictions: [perfect[0]], docs: docs, catalogue: cat)
        _ = try experiment(root, "abl_none", config: "stage: all\nparadigm: D_RS_F\ndata: {train: \"train[0:100]\"}",
                           split: "select[0:20]", predictions: [], docs: docs, catalogue: cat)
        // another split of a single-adapter run has no main counterpart and is left out of the comparison
        _ = try experiment(root, "abl_other", config: "stage: all\ndata: {train: \"train[0:100]\"}", split: "test[0:50]",
                           predictions: perfect, docs: docs, catalogue: cat)
        #expect(main.autore.total.f1 == 1 && half.autore.total.f1 > 0 && half.autore.total.f1 < 1)
        for f in ["main_rhf", "abl_half"] { #expect(try ExperimentConfig.load(path: root.appendingPathComponent("\(f)/config.yaml").path).name == f) }

        let md = try Report(root: root, results: root).markdown()
        let section = try #require(md.components(separatedBy: "## The main run against single-adapter runs").dropFirst().first)
        let d = String(format: "%+.2f", 100 * (1 - half.autore.total.f1))
        #expect(section.contains("main_rhf beats the best single-adapter run (abl_half, AutoRE F1 \(ReportTable.pct(half.autore.total.f1))) by \(d) points"))
        #expect(section.contains("train against train[0:100]"))
        #expect(!section.contains("abl_other"))
        // rows by F1: main, then abl_half, then abl_none
        let order = ["| main_rhf", "| abl_half", "| abl_none"].map { section.range(of: $0)!.lowerBound }
        #expect(order == order.sorted())

        // when a single-adapter run does better, the verdict says so
        _ = try experiment(root, "abl_all", config: "stage: all\ndata: {train: train}", split: "select[0:20]",
                           predictions: perfect, docs: docs, catalogue: cat)
        _ = try experiment(root, "main_rhf", config: "stage: each\ndata: {train: train}", split: "select[0:20]",
                           predictions: [perfect[0]], docs: docs, catalogue: cat)
        let md2 = try Report(root: root, results: root).markdown()
        #expect(md2.contains("main_rhf falls behind the best single-adapter run (abl_all, AutoRE F1 100.00) by \(String(format: "%+.2f", -100 * (1 - half.autore.total.f1))) points."))
    }

    @Test func timedExtractionsAreListedWithTheirRates() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        _ = try experiment(root, "main_rhf", config: "stage: each", split: "select", predictions: perfect, docs: docs, catalogue: cat)
        var s = ExtractionStatistics()
        s.documents = 500; s.seconds = 2250; s.promptTokens = 800_000; s.generatedTokens = 100_000; s.questions = 5000
        let t = ExtractionTiming(command: "autore extract --split dev", input: "split dev", threads: 2, statistics: s, resumedFrom: 0)
        try t.write(to: root.appendingPathComponent("main_rhf/timing_dev.json").path)
        #expect(try ExtractionTiming.read(root.appendingPathComponent("main_rhf/timing_dev.json").path).statistics.documents == 500)
        let md = try Report(root: root, results: root).markdown()
        // 500 documents in 37:30 → 13.3 documents/minute; 900,000 tokens / 2,250 s = 400 tokens/s
        #expect(md.contains("| [main_rhf/timing_dev.json](main_rhf/timing_dev.json) | split dev | 2 | 500 | 37:30 | 13.3 | 400 | 800000 | 100000 | 5000 |"))
        #expect(md.contains("`autore extract --split dev`"))
        // a damaged timing file names itself
        try "{".write(toFile: root.appendingPathComponent("main_rhf/timing_bad.json").path, atomically: true, encoding: .utf8)
        #expect(throws: AutoREError.self) { try ExtractionTiming.read(root.appendingPathComponent("main_rhf/timing_bad.json").path) }
    }
}
