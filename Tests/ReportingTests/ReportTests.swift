// The report's comparison of the main run with single-adapter runs scored on the same documents, its
// table of timed extractions, its ablation tables and its exports (CSV, LaTeX, SVG), on results folders
// written here by hand.
import DocRE
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Experiments
@testable import RHF
@testable import Reporting

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
        let training = config.contains("training:") ? "" : "training: {steps: 1}\n"
        try "name: \(name)\n\(training)\(config)\n".write(toFile: dir.file("config.yaml"), atomically: true, encoding: .utf8)
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
        let weaker = try experiment(root, "main_rhf", config: "stage: each\ndata: {train: train}", split: "select[0:20]",
                                    predictions: [perfect[0]], docs: docs, catalogue: cat)
        let md2 = try Report(root: root, results: root).markdown()
        #expect(md2.contains("main_rhf falls behind the best single-adapter run (abl_all, AutoRE F1 100.00) by \(String(format: "%+.2f", -100 * (1 - half.autore.total.f1))) points; both were trained on the same documents (train), so this is the controlled comparison"))
        #expect(md2.contains("Paired bootstrap of abl_all minus main_rhf over the 2 documents"))
        // trained on the same documents, the two are set side by side stage by stage
        let rel = try #require(weaker.stages.extra["relations"])
        #expect(rel.f1 > 0 && rel.f1 < 1)
        #expect(md2.contains("Stage scores, precision/recall/F1 of main_rhf against abl_all: relations " +
                             String(format: "%.1f/%.1f/%.1f", 100 * rel.precision, 100 * rel.recall, 100 * rel.f1) + " against 100.0/100.0/100.0; heads "))
        #expect(md2.contains("Training: main_rhf (no training summary); abl_all (no training summary)."))
        // runs trained on other documents get no stage comparison
        #expect(!md.contains("Stage scores"))
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

    @Test func ablationsCompareOnlyExperimentsThatDifferInOneSetting() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        let slice = "data: {train: \"train[0:100]\"}"
        func run(_ name: String, _ config: String, _ preds: [PredictionRecord]) throws -> SplitResult {
            try experiment(root, name, config: "\(config)\n\(slice)", split: "select[0:20]", predictions: preds, docs: docs, catalogue: cat)
        }
        // paradigms: perfect against right on the first document only; another training slice stays out
        _ = try run("abl_rhf", "paradigm: D_R_H_F", perfect)
        let half = try run("abl_df", "paradigm: D_F", [perfect[0]])
        _ = try experiment(root, "abl_other_slice", config: "paradigm: D_R_F\ndata: {train: \"train[0:50]\"}", split: "select[0:20]",
                           predictions: perfect, docs: docs, catalogue: cat)
        // three adapters of rank 16 against one of rank 48, and a tie in prompt order
        let lora16 = "lora: {rank: 16, alpha: 32}", lora48 = "lora: {rank: 48, alpha: 96}"
        _ = try run("abl_three", "paradigm: D_R_H_F_desc\nstage: each\n\(lora16)", perfect)
        _ = try run("abl_one", "paradigm: D_R_H_F_desc\nstage: all\n\(lora48)", [perfect[1]])
        _ = try run("abl_first", "paradigm: D_RS_F\nprompt_order: documentFirst", [])
        _ = try run("abl_original", "paradigm: D_RS_F\nprompt_order: original", [])

        let md = try Report(root: root, results: root).markdown()
        func section(_ title: String) throws -> String {
            let after = try #require(md.components(separatedBy: "### \(title): select[0:20] (2 documents)").dropFirst().first)
            return after.components(separatedBy: "\n### ").first!.components(separatedBy: "\n## ").first!
        }
        let paradigms = try section("Paradigm and relation descriptions")
        // abl_original differs from abl_first in prompt order too, so it is not in the paradigm table
        #expect(!paradigms.contains("abl_other_slice") && !paradigms.contains("abl_three") && !paradigms.contains("abl_original"))
        let rows = ["| [abl_rhf]", "| [abl_df]", "| [abl_first]"].map { paradigms.range(of: $0)!.lowerBound }
        #expect(rows == rows.sorted())
        // Exact bootstrap of (both documents right) against (first right): each draw of the 2 documents is
        // 1/4 likely; F1 difference 0 (first twice), 1/3 (one of each, twice as likely), 1 (second twice).
        // The 2.5% and 97.5% points are 0 and 1.
        let d = String(format: "%+.2f", 100 * (1 - half.autore.total.f1))
        #expect(paradigms.contains("| \(d) | [+0.00, +100.00] |"))
        #expect(paradigms.contains("Best: abl_rhf (D_R_H_F · none), ahead of abl_df (D_F · none) by \(d) points."))
        #expect(paradigms.contains("the interval includes 0"))
        // each run's own F1 interval in the main table: F1 of (first right) over the draws is 1, 2/3 or 0
        #expect(md.contains("| **\(ReportTable.pct(half.autore.total.f1))** | 0.00–100.00 |"))
        #expect(md.contains("| **100.00** | 100.00–100.00 |"))

        let adapters = try section("One adapter per stage against one adapter of the same total rank")
        #expect(adapters.contains("| [abl_three](abl_three/) | 3 × r16 |") && adapters.contains("| [abl_one](abl_one/) | 1 × r48 |"))
        #expect(adapters.contains("Best: abl_three (3 × r16), ahead of abl_one (1 × r48)"))
        // one adapter of rank 16 (abl_one16) against the three of rank 16: the same-rank axis
        _ = try run("abl_one16", "paradigm: D_R_H_F_desc\nstage: all\n\(lora16)", [perfect[0]])
        let md1 = try Report(root: root, results: root).markdown()
        let sameRank = try #require(md1.components(separatedBy: "### One adapter per stage against one adapter of the same rank: select[0:20]").dropFirst().first)
            .components(separatedBy: "\n### ").first!
        #expect(sameRank.contains("| [abl_three](abl_three/) | 3 × r16 |") && sameRank.contains("| [abl_one16](abl_one16/) | 1 × r16 |"))
        #expect(!sameRank.contains("abl_one/"))
        // full fine-tuning is set against the LoRA runs of the same recipe at equal steps, whatever their rank;
        // without a full run there is no such table
        #expect(!md1.contains("### Full fine-tuning against LoRA"))
        _ = try run("abl_full", "paradigm: D_R_H_F_desc\nstage: all\nquantization: none\nfine_tuning: full\noptimizer: {learning_rate: 1.0e-5}", [perfect[1]])
        let full = try #require(try Report(root: root, results: root).markdown()
            .components(separatedBy: "### Full fine-tuning against LoRA at equal steps: select[0:20]").dropFirst().first).components(separatedBy: "\n### ").first!
        #expect(full.contains("| [abl_full](abl_full/) | every weight, Float32, lr 1e-05 |"), "\(full)")
        #expect(full.contains("| [abl_one16](abl_one16/) | LoRA r16 α32 q,v over nf4, lr 5e-05 |") && full.contains("| [abl_one](abl_one/) | LoRA r48 α96 q,v over nf4"))
        #expect(!full.contains("abl_three") && !full.contains("abl_rhf"))
        let order = try section("Prompt order")
        #expect(order.contains("No winner: abl_first (documentFirst) and abl_original (original) have the same AutoRE F1, 0.00."))
        // the LoRA axis groups one-adapter runs only: abl_one has no peer there
        #expect(!md.contains("### LoRA rank and targets"))

        // the base in its GGUF blocks against NF4: LoRA runs that differ only in quantization
        _ = try run("abl_native16", "paradigm: D_R_H_F_desc\nstage: all\n\(lora16)\nquantization: native", [perfect[1]])
        let quant = try #require(try Report(root: root, results: root).markdown()
            .components(separatedBy: "### The base in its GGUF blocks against NF4: select[0:20]").dropFirst().first).components(separatedBy: "\n### ").first!
        #expect(quant.contains("| [abl_native16](abl_native16/) | smollm2 · native |") && quant.contains("| [abl_one16](abl_one16/) | smollm2 · nf4 |"), "\(quant)")
        #expect(!quant.contains("abl_full") && !quant.contains("abl_one/") && !quant.contains("abl_three"))

        // metrics written before per-document counts existed: the table says what to run
        let dir = ResultsDirectory(root.appendingPathComponent("abl_df"))
        var old = try #require(try dir.read("select[0:20]"))
        old.autore.perDocument = nil
        try dir.write(old)
        let md2 = try Report(root: root, results: root).markdown()
        #expect(md2.contains("no per-document counts") && md2.contains("`autore report --rescore` adds them"))
    }

    @Test func rescoringKeepsWhatTheExtractionMeasuredAndAddsPerDocumentCounts() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-rescore-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        // a data folder whose test split is the two documents
        let data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let fixture = DataLocation.projectData.appendingPathComponent("fixtures/tiny_redocred.json")
        for f in ["dev_revised.json", "train_revised.json"] { try FileManager.default.copyItem(at: fixture, to: data.appendingPathComponent(f)) }
        let enc = JSONEncoder()
        try enc.encode(docs).write(to: data.appendingPathComponent("test_revised.json"))

        let results = root.appendingPathComponent("results")
        let dir = ResultsDirectory(results.appendingPathComponent("abl_x"))
        try dir.create()
        try PredictionRecord.write([perfect[0]], to: URL(fileURLWithPath: dir.predictions("test")))
        var stats = ExtractionStatistics()
        stats.documents = 2; stats.seconds = 30
        for split in ["test", "test[1:2]"] {
            var r = SplitResult(experiment: "abl_x", split: split, documents: split == "test" ? docs : [docs[1]], predictions: [perfect[0]],
                                trainDocuments: [], catalogue: cat, extraction: stats, adapterSteps: ["all": 7], notes: ["kept"])
            r.autore.perDocument = nil
            try dir.write(r)
        }
        var said: [String] = []
        try Report(root: root, results: results).rescore(loader: SplitLoader(directory: data)) { said.append($0) }
        let whole = try #require(try dir.read("test")), slice = try #require(try dir.read("test[1:2]"))
        #expect(whole.autore.perDocument?.count == 2 && whole.autore.perDocument?[0].tp == whole.autore.total.tp)
        #expect(whole.autore.perDocument?[1].tp == 0 && whole.autore.total.tp > 0)
        // the slice is scored from the whole split's predictions (matched by title): nothing right there
        #expect(slice.autore.perDocument == [PRF(tp: 0, fp: 0, gold: try docs[1].facts(cat).count)])
        #expect(whole.extraction?.seconds == 30 && whole.adapterSteps == ["all": 7] && whole.notes == ["kept"])
        #expect(said.count == 2 && said.allSatisfy { !$0.contains("was") })

        // no predictions to score: an error naming the metrics file
        try FileManager.default.removeItem(atPath: dir.predictions("test"))
        #expect { try Report(root: root, results: results).rescore(loader: SplitLoader(directory: data)) { _ in } } throws: { e in
            "\(e)".contains(dir.metrics("test")) && "\(e)".contains("no predictions file")
        }
    }

    @Test func paperExportsCarryTheReportsNumbers() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        let slice = "data: {train: \"train[0:100]\"}"
        _ = try experiment(root, "abl_rhf", config: "paradigm: D_R_H_F\n\(slice)", split: "select[0:20]", predictions: perfect, docs: docs, catalogue: cat)
        let half = try experiment(root, "abl_df", config: "paradigm: D_F\n\(slice)", split: "select[0:20]", predictions: [perfect[0]], docs: docs, catalogue: cat)
        _ = try experiment(root, "abl_df", config: "paradigm: D_F\n\(slice)", split: "test[0:50]", predictions: [], docs: docs, catalogue: cat)
        try Report(root: root, results: root).write()
        // unseen.svg only comes with runs that hold relations out (unseenRelationsGetASectionAndAFigure), and
        // propagation.svg with error-propagation runs (errorPropagationGetsAWaterfall)
        let optional: Set = ["unseen.svg", "propagation.svg"]
        for f in Report.exports where !optional.contains(f) { #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(f).path), "\(f) written") }
        for f in optional { #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent(f).path), "\(f) not written") }
        #expect(!(try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)).contains("## Unseen relations"))

        // CSV, read back with a reader of its own: one row per experiment and split, the metrics files' numbers
        let table = Self.readCSV(try String(contentsOf: root.appendingPathComponent("results.csv"), encoding: .utf8))
        #expect(table.first == Report.csvColumns)
        let rows = table.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(Report.csvColumns, $0)) }
        #expect(rows.count == 3 && rows.allSatisfy { $0.count == Report.csvColumns.count })
        let df = try #require(rows.first { $0["experiment"] == "abl_df" && $0["split"] == "select[0:20]" })
        #expect(abs(Double(df["autore_f1"]!)! - 100 * half.autore.total.f1) < 1e-4)
        #expect(abs(Double(df["official_f1"]!)! - 100 * half.official.total.f1) < 1e-4)
        #expect(abs(Double(df["autore_precision"]!)! - 100 * half.autore.total.precision) < 1e-4)
        // the F1 of (first document right) over draws of the two documents is 1, 2/3 or 0: interval 0–100
        #expect(df["autore_f1_low"] == "0.0000" && df["autore_f1_high"] == "100.0000")
        #expect(df["paradigm"] == "D_F" && df["train"] == "train[0:100]" && df["documents"] == "2" && df["lora_targets"] == "q_proj v_proj")
        #expect(df["documents_per_minute"] == "")
        #expect(Report.csvField("a,\"b\"") == "\"a,\"\"b\"\"\"" && Report.csvField("plain") == "plain")

        // LaTeX: every row of a tabular has its header's column count; special characters escaped
        let tex = try String(contentsOf: root.appendingPathComponent("results.tex"), encoding: .utf8)
        // published, runs (spanning both columns), one ablation table with its best F1 in bold
        #expect(tex.components(separatedBy: "\\begin{table}").count - 1 == 2 && tex.components(separatedBy: "\\begin{table*}").count - 1 == 1)
        for tabular in tex.components(separatedBy: "\\toprule\n").dropFirst() {
            let lines = tabular.components(separatedBy: "\\bottomrule").first!.split(separator: "\n").filter { $0 != "\\midrule" }
            #expect(lines.count > 1 && Set(lines.map { Self.unescapedAmpersands(String($0)) }).count == 1, "rows of one table have its header's columns")
        }
        #expect(tex.contains("abl\\_df & D\\_F") && !tex.contains(" abl_df"))
        #expect(tex.contains("\\textbf{100.00}"))
        #expect(Report.latexEscape("a_b & 50% {x} #1 $ ~^\\ r16 α32") == "a\\_b \\& 50\\% \\{x\\} \\#1 \\$ \\textasciitilde{}\\textasciicircum{}\\textbackslash{} r16 $\\alpha$32")

        // the figure: well-formed SVG, one dot per ablation row, the better run further right, intervals as bars
        let svg = try Data(contentsOf: root.appendingPathComponent("ablations.svg"))
        let shapes = SVGShapes()
        let parser = XMLParser(data: svg)
        parser.delegate = shapes
        #expect(parser.parse(), "ablations.svg parses as XML")
        #expect(shapes.circles.count == 2 && shapes.texts.contains { $0.hasPrefix("abl_rhf") } && shapes.texts.contains { $0.hasPrefix("abl_df") })
        let xs = shapes.circles.map(\.cx)
        #expect(xs[0] > xs[1], "the best row (F1 100) is drawn right of the other")
        // abl_df's interval runs from 0 to 100 points: from the axis' left end to the best row's dot
        let bar = try #require(shapes.lines.last)
        #expect(abs(bar.x2 - xs[0]) < 0.11 && bar.x1 < xs[1] + 0.11 && bar.x1 < bar.x2)
    }

    @Test func everyRunListsItsTenMostFrequentRelations() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-rel-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        // right on the first document, nothing on the second: every relation at P 100, R 50
        _ = try experiment(root, "half", config: "paradigm: D_R_H_F", split: "select[0:2]", predictions: [perfect[0]], docs: docs, catalogue: cat)
        let md = try Report(root: root, results: root).markdown()
        let section = try #require(md.components(separatedBy: "## The ten most frequent relations").dropFirst().first)
        #expect(section.contains("<summary>half · select[0:2]</summary>"))
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| relation") }
        // two copies of the Curie document: spouse has 4 gold facts, five relations 2 each (then by name)
        #expect(rows.map { $0.split(separator: "|")[0].trimmingCharacters(in: .whitespaces) }
                == ["spouse", "capital", "capital of", "country of citizenship", "place of birth", "work location"])
        #expect(rows.first == "| spouse | 4 | 100.00 | 50.00 | 66.67 |")
        #expect(rows.allSatisfy { $0.hasSuffix("| 100.00 | 50.00 | 66.67 |") })
    }

    @Test func unseenRelationsGetASectionAndAFigure() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-unseen-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        // Perfect on the seen relations; the held-out "spouse" facts of the first document only.
        let preds = perfect.enumerated().map { i, p in
            var q = p
            if i == 1 { q.triples = p.triples.filter { $0[1] != "spouse" }; q.relations = p.relations?.filter { $0 != "spouse" } }
            return q
        }
        let dir = ResultsDirectory(root.appendingPathComponent("unseen_own"))
        try dir.create()
        try "name: unseen_own\nparadigm: D_R_H_F_desc\ndescriptions: own\ntraining: {steps: 1}\ndata: {held_out_relations: [P26]}\n"
            .write(toFile: dir.file("config.yaml"), atomically: true, encoding: .utf8)
        var r = SplitResult(experiment: "unseen_own", split: "test[0:2]", documents: docs, predictions: preds, trainDocuments: [],
                            catalogue: cat, extraction: nil, adapterSteps: [:], notes: [])
        r.unseen = UnseenRelationScores(heldOut: ["spouse"], documents: docs, predictions: preds, catalogue: cat)
        try dir.write(r)
        #expect(r.unseen?.unseen == PRF(tp: 2, fp: 0, gold: 4) && r.unseen?.seen.f1 == 1)
        // the stored metrics keep the unseen scores
        #expect(try dir.read("test[0:2]")?.unseen == r.unseen)
        try Report(root: root, results: root).write()
        let md = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(md.components(separatedBy: "## Unseen relations").dropFirst().first)
        let row = try #require(section.split(separator: "\n").first { $0.hasPrefix("| unseen_own |") })
        let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(cells[1] == "own" && cells[2] == "test[0:2]" && cells[3] == "spouse" && cells[4] == "100.00")
        #expect(cells[6] == "100.00" && cells[7] == "50.00" && cells[8] == "**66.67**" && cells[10] == "1 of 2")
        let svg = try Data(contentsOf: root.appendingPathComponent("unseen.svg"))
        let shapes = SVGShapes()
        let parser = XMLParser(data: svg)
        parser.delegate = shapes
        #expect(parser.parse(), "unseen.svg parses as XML")
        #expect(shapes.circles.count == 2 && shapes.texts.contains { $0.hasPrefix("unseen_own · own") })
        #expect(shapes.circles[0].cx > shapes.circles[1].cx, "seen F1 (100) right of unseen F1 (66.67)")

        // the same run with gold relations fed (`autore eval --stages oracle`): its rows' held-out scores
        let ev = Evaluator(documents: docs, catalogue: cat)
        func fedRow(_ f: GoldFeed, _ p: [PredictionRecord]) -> ErrorPropagationResult.Row {
            .init(feed: f, autore: ev.autore(p), stages: ev.stages(p), extraction: ExtractionStatistics(), resumedDocuments: 0,
                  unseen: UnseenRelationScores(heldOut: ["spouse"], documents: docs, predictions: p, catalogue: cat))
        }
        let oracle = ErrorPropagationResult(experiment: "unseen_own", run: "Experiments/runs/unseen_own", split: "test[0:2]", documents: docs.count,
                                            rows: [fedRow(.none, preds), fedRow(.relations, perfect), fedRow(.allStages, perfect)], notes: [], command: nil)
        let od = ResultsDirectory(root.appendingPathComponent("unseen_own_oracle"))
        try od.create()
        try ResultsJSON.write(oracle, to: ErrorPropagationResult.file(in: od, split: "test[0:2]"))
        let md2 = try Report(root: root, results: root).markdown()
        let fed = try #require(md2.components(separatedBy: "### With gold relations fed").dropFirst().first).components(separatedBy: "\n## ").first!
        let fedRows = fed.split(separator: "\n").filter { $0.hasPrefix("| [unseen_own_oracle]") }
        #expect(fedRows.count == 2, "every feed but every stage gold: \(fedRows)")
        #expect(fedRows.first { $0.contains("| relations |") }?.hasPrefix("| [unseen_own_oracle](unseen_own_oracle/) | own | test[0:2] | relations | 100.00 | 100.00 | 100.00 | **100.00** |") == true, "\(fedRows)")
        #expect(fedRows.first { $0.contains("fully predicted") }?.contains("| **66.67** |") == true, "\(fedRows)")
    }

    /// A hand-made propagation run on the two fixture documents: nothing found when fully predicted, the first
    /// document's facts with gold relations (P 1, R 1/2, F1 2/3), every fact with gold subjects and with every
    /// stage gold. The waterfall's bars: a total of 0, steps of +2/3, +1/3 and 0, and a total of 1, drawn to one scale.
    @Test func errorPropagationGetsAWaterfall() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-waterfall-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, _) = try documents()
        let empty = docs.map { PredictionRecord(title: $0.title, triples: []) }
        let partial = [perfect[0]] + empty.dropFirst()
        let ev = Evaluator(documents: docs)
        func row(_ f: GoldFeed, _ p: [PredictionRecord]) -> ErrorPropagationResult.Row {
            .init(feed: f, autore: ev.autore(p), stages: ev.stages(p), extraction: ExtractionStatistics(), resumedDocuments: 0)
        }
        #expect(abs(ev.autore(partial).total.f1 - 2.0 / 3) < 1e-12)
        let r = ErrorPropagationResult(experiment: "main", run: "Experiments/runs/main", split: "select[0:2]", documents: docs.count,
                                       rows: [row(.none, empty), row(.relations, partial), row(.relationsAndHeads, perfect), row(.allStages, perfect)],
                                       notes: [], command: nil)
        let dir = ResultsDirectory(root.appendingPathComponent("main_oracle"))
        try dir.create()
        try ResultsJSON.write(r, to: ErrorPropagationResult.file(in: dir, split: "select[0:2]"))
        try Report(root: root, results: root).write()
        #expect(try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8).contains("[propagation.svg](propagation.svg)"))
        let shapes = SVGShapes()
        let parser = XMLParser(data: try Data(contentsOf: root.appendingPathComponent("propagation.svg")))
        parser.delegate = shapes
        #expect(parser.parse(), "propagation.svg parses as XML")
        let bars = shapes.rects.filter { $0.fill != "white" && $0.fill != "none" }
        #expect(bars.map(\.fill) == [WaterfallFigure.totalFill, WaterfallFigure.gainFill, WaterfallFigure.gainFill, WaterfallFigure.gainFill, WaterfallFigure.totalFill])
        #expect(bars[0].width == 0 && bars[3].width == 0, "the fully predicted total and the gold-facts step are empty")
        #expect(abs(bars[1].width / bars[2].width - 2) < 0.02, "+2/3 is twice +1/3")
        #expect(abs(bars[1].width + bars[2].width - bars[4].width) < 0.2, "the steps add up to the ceiling")
        #expect(abs(bars[2].x - (bars[1].x + bars[1].width)) < 0.2, "a step starts where the one before ends")
        #expect(shapes.texts.contains("+66.67") && shapes.texts.contains("+33.33") && shapes.texts.contains("100.00"))
        #expect(shapes.texts.contains("main on select[0:2] (2 documents)"))
    }

    /// Two experiments that differ in their base model, named as a pair in the study: the base-model table
    /// shows both rows and the challenger's difference (here every fact against the first document's only:
    /// F1 1 against 2/3, +33.33 points) with its paired bootstrap.
    @Test func baseModelPairsGetATableWithTheirDifference() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-base-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        let partial = [perfect[0], PredictionRecord(title: docs[1].title, triples: [])]
        _ = try experiment(root, "smol", config: "base_model: smollm2\nparadigm: D_R_H_F", split: "test[0:2]", predictions: partial, docs: docs, catalogue: cat)
        _ = try experiment(root, "gem", config: "base_model: gemma3\nquantization: native\nchat_template: none\nparadigm: D_R_H_F",
                           split: "test[0:2]", predictions: perfect, docs: docs, catalogue: cat)
        var study = try Study.load()
        study.baseModelComparisons = [["smol", "gem"]]
        let md = try Report(root: root, results: root, study: study).markdown()
        let section = try #require(md.components(separatedBy: "## Base models").dropFirst().first)
        #expect(section.contains("| smol | smollm2 | nf4 | – | – | 100.00 | 50.00 | **66.67** |"))
        #expect(section.contains("| gem | gemma3 | native | – | – | 100.00 | 100.00 | **100.00** |"))
        #expect(section.contains("gem minus smol: +33.33 points of AutoRE F1. Paired bootstrap of gem minus smol over the 2 documents"))
        // without the pair in the study there is no such section
        study.baseModelComparisons = []
        #expect(!(try Report(root: root, results: root, study: study).markdown()).contains("## Base models"))
        // a pair is two names
        #expect(throws: StudyError.self) { try Study.pairs([["smol", "gem", "third"]], file: "study.json") }
    }

    @Test func runsThatDifferOnlyInTheSeedAreSummarised() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-seeds-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (docs, perfect, cat) = try documents()
        func run(_ name: String, _ config: String, _ preds: [PredictionRecord]) throws -> SplitResult {
            try experiment(root, name, config: config, split: "select[0:20]", predictions: preds, docs: docs, catalogue: cat)
        }
        let a = try run("abl_s0", "training: {steps: 1, seed: 0}", perfect)
        let b = try run("abl_s1", "training: {steps: 1, seed: 1}", [perfect[0]])
        let c = try run("abl_s2", "training: {steps: 1, seed: 2}", [])
        _ = try run("abl_other", "training: {steps: 1, seed: 3}\nlora: {rank: 8}", perfect)   // differs in more than the seed
        let md = try Report(root: root, results: root).markdown()
        let section = try #require(md.components(separatedBy: "## Training seeds").dropFirst().first)
        // by hand: mean and sample standard deviation of the three F1s, and of the official F1s
        func spread(_ x: [Double]) -> String {
            let m = x.reduce(0, +) / 3
            let sd = ((x.map { ($0 - m) * ($0 - m) }.reduce(0, +)) / 2).squareRoot()
            return String(format: "%.2f ± %.2f | %.2f | %.2f", 100 * m, 100 * sd, 100 * x.min()!, 100 * x.max()!)
        }
        let f1 = [a, b, c].map(\.autore.total.f1), official = [a, b, c].map(\.official.total.f1)
        #expect(f1[1] > 0 && f1[1] < 1)
        #expect(section.contains("| [abl_s0](abl_s0/), [abl_s1](abl_s1/), [abl_s2](abl_s2/) | select[0:20] | 3 (0, 1, 2) | \(spread(f1)) | \(spread(official)) |"))
        #expect(!section.contains("abl_other"))
        let tex = Report(root: root, results: root).latex(try Report(root: root, results: root).contents())
        #expect(tex.contains("abl\\_s0, abl\\_s1, abl\\_s2 & select[0:20] & 0, 1, 2 & "))
    }

    /// RFC 4180 fields: commas separate, quotes enclose, a doubled quote inside quotes is one quote.
    static func readCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false
        var it = Array(text).makeIterator(), pending: Character? = nil
        while let ch = pending ?? it.next() {
            pending = nil
            if quoted {
                if ch == "\"" {
                    if let n = it.next() { if n == "\"" { field.append("\"") } else { quoted = false; pending = n } } else { quoted = false }
                } else { field.append(ch) }
            } else if ch == "\"" { quoted = true
            } else if ch == "," { row.append(field); field = ""
            } else if ch == "\r\n" || ch == "\n" { row.append(field); rows.append(row); row = []; field = ""
            } else { field.append(ch) }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    static func unescapedAmpersands(_ line: String) -> Int {
        var n = 0, previous: Character = " "
        for ch in line { if ch == "&" && previous != "\\" { n += 1 }; previous = ch }
        return n
    }
}

/// The circles, lines and texts of an SVG, in document order.
final class SVGShapes: NSObject, XMLParserDelegate {
    var circles: [(cx: Double, cy: Double)] = []
    var rects: [(x: Double, width: Double, fill: String)] = []
    var lines: [(x1: Double, x2: Double, stroke: String)] = []
    var texts: [String] = []
    private var text: String?
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
        switch name {
        case "circle": circles.append((Double(a["cx"] ?? "") ?? .nan, Double(a["cy"] ?? "") ?? .nan))
        case "rect": rects.append((Double(a["x"] ?? "") ?? .nan, Double(a["width"] ?? "") ?? .nan, a["fill"] ?? ""))
        case "line" where a["stroke"] != "#eee": lines.append((Double(a["x1"] ?? "") ?? .nan, Double(a["x2"] ?? "") ?? .nan, a["stroke"] ?? ""))
        case "text": text = ""
        default: break
        }
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text? += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let t = text { texts.append(t); text = nil }
    }
}
