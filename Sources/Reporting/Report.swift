// `Experiments/results/README.md` from the results folders: every experiment's scores under each metric
// beside the published numbers, training cost, loss curves and a per-relation breakdown of the main run.
// The results model (`Contents`) is computed once and rendered as Markdown here, as CSV, LaTeX and SVG in
// ReportExport; the study's prose and published table come from Data/report (Study).
// Not the scoring itself (DocRE), not the runs (Experiments' runner), not the sweep files (Sweep).
import DocRE
import Experiments
import FineTuning
import Foundation
import RHF
import Support

/// Text tables of results.
public enum ReportTable {
    static func pct(_ x: Double?) -> String { x.map { String(format: "%.2f", 100 * $0) } ?? "–" }

    /// A short table of one experiment's splits (printed by `autore run`).
    public static func experimentTable(_ results: [SplitResult]) -> String {
        var s = "| split | docs | AutoRE P | R | F1 | strict F1 | official F1 | Ign F1 | relations F1 | heads F1 | facts F1 |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in results {
            let a = r.autore.total
            s += "| \(r.split) | \(r.documents) | \(pct(a.precision)) | \(pct(a.recall)) | \(pct(a.f1)) | \(pct(r.strict.total.f1)) | \(pct(r.official.total.f1)) | \(pct(r.official.ignF1)) | \(pct(r.stages.extra["relations"]?.f1)) | \(pct(r.stages.extra["heads"]?.f1)) | \(pct(r.stages.extra["facts"]?.f1)) |\n"
        }
        return s
    }
}

/// The results README.
///
///     try Report(root: DataLocation.root).write()
public struct Report {
    public var root: URL
    public var results: URL
    /// The study described (main experiment, folders left out, published table, prose); nil: read from
    /// `Data/report` under the root (`Study.load()`) when the report is computed.
    public var study: Study?

    public init(root: URL, results: URL? = nil, study: Study? = nil) {
        self.root = root
        self.results = results ?? root.appendingPathComponent("Experiments/results")
        self.study = study
    }

    struct Entry {
        var name: String
        var config: ExperimentConfig?
        var splits: [SplitResult]
        var training: [AdapterRunSummary]
        var command: String?
        /// AutoRE F1's bootstrap interval over the documents of each scored split (absent without
        /// per-document counts).
        var intervals: [String: ClosedRange<Double>] = [:]

        /// AutoRE F1's interval in points as a table cell ("–" without per-document counts).
        func interval(_ r: SplitResult) -> String {
            intervals[r.split].map { String(format: "%.2f–%.2f", 100 * $0.lowerBound, 100 * $0.upperBound) } ?? "–"
        }

        /// The settings a table shows, as cells ("?" when the folder has no readable config).
        var adapters: String {
            config.map {
                if $0.fineTuning == .full { return "none (every weight trained)" }
                switch $0.adapterLayout {
                case .perStage: return "one per stage"
                case .shared: return "one"
                case .single(let s): return s.rawValue
                }
            } ?? "?"
        }
        var lora: String { config.map(Report.lora) ?? "?" }
        var descriptions: String { config.map { ($0.descriptions ?? $0.paradigm.defaultDescriptions).rawValue } ?? "?" }
    }

    /// LoRA settings as a table cell: `r16 α32 q,v`; `full` when every weight is trained.
    static func lora(_ c: ExperimentConfig) -> String {
        if c.fineTuning == .full { return "full" }
        return "r\(c.lora.rank) α\(Int(c.lora.alpha)) \(c.lora.targets.map { $0.replacingOccurrences(of: "_proj", with: "") }.joined(separator: ","))"
    }

    func entries(excluding excluded: Set<String>) throws -> [Entry] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: results.path)) ?? []).sorted()
        var out: [Entry] = []
        for n in names where !excluded.contains(n) {
            let dir = ResultsDirectory(results.appendingPathComponent(n))
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir.url.path, isDirectory: &isDir), isDir.boolValue else { continue }
            let splits = try dir.scored()
            guard !splits.isEmpty else { continue }
            let config = try? ExperimentConfig.load(path: dir.file("config.yaml"))
            let training = (fm.contents(atPath: dir.file("training.json")).flatMap { try? ResultsJSON.decode([AdapterRunSummary].self, from: $0) }) ?? []
            let command = try? String(contentsOfFile: dir.file("command.txt"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            var intervals: [String: ClosedRange<Double>] = [:]
            for r in splits { intervals[r.split] = r.autore.perDocument.flatMap { PairedBootstrap.f1Interval($0) } }
            out.append(Entry(name: n, config: config, splits: splits, training: training, command: command, intervals: intervals))
        }
        return out
    }

    /// What the report shows, computed once for all its files: the experiments, the ablation tables and
    /// the groups of runs that differ only in their seed.
    struct Contents {
        var study: Study
        var entries: [Entry]
        var ablations: [AblationTable]
        var seeds: [SeedGroup]
        var propagation: [PropagationTable] = []
    }

    func contents() throws -> Contents {
        let study = try self.study ?? Study.load()
        let entries = try entries(excluding: study.excluded)
        return Contents(study: study, entries: entries, ablations: ablationTables(entries), seeds: seedGroups(entries),
                        propagation: try propagationTables(excluding: study.excluded))
    }

    /// Scores every results folder's predictions again with this build's evaluator (keeping what each
    /// extraction measured) and rewrites its metrics files; `say` reports each split and any changed F1.
    public func rescore(loader: SplitLoader, say: (String) -> Void = { print($0) }) throws {
        let catalogue = try loader.catalogue()
        // each split is read once, however many folders score a slice of it
        var loaded: [Split: [Document]] = [:]
        func documents(_ split: Split) throws -> [Document] {
            if let d = loaded[split] { return d }
            let d = try loader.load(split).documents
            loaded[split] = d
            return d
        }
        let fm = FileManager.default
        for n in ((try? fm.contentsOfDirectory(atPath: results.path)) ?? []).sorted() {
            let dir = ResultsDirectory(results.appendingPathComponent(n))
            for old in try dir.scored() {
                guard let path = dir.predictionsScored(as: old.split) else {
                    throw AutoREError("\(dir.metrics(old.split)): no predictions file to score again (\(dir.predictions(old.split)))")
                }
                let slice = try SplitSlice(parsing: old.split, file: dir.metrics(old.split))
                let docs = try SplitDocuments(slice, of: documents(slice.split), note: nil).documents
                guard docs.count == old.documents else {
                    throw AutoREError("\(dir.metrics(old.split)): scored \(old.documents) documents, but \(old.split) has \(docs.count) here (another copy of the data?)")
                }
                let new = old.rescored(documents: docs, predictions: try PredictionRecord.load(URL(fileURLWithPath: path)),
                                       trainDocuments: try documents(.train), catalogue: catalogue)
                try dir.write(new)
                let (f0, f1) = (ReportTable.pct(old.autore.total.f1), ReportTable.pct(new.autore.total.f1))
                say("\(n) · \(old.split): AutoRE F1 \(f1)" + (f0 == f1 ? "" : " (was \(f0))") + ", \(docs.count) documents")
            }
        }
    }

    /// Writes the README, and beside it `results.csv`, `results.tex` and (when there are ablation tables,
    /// held-out relations, error-propagation runs) `ablations.svg`, `unseen.svg`, `propagation.svg`;
    /// returns the README's path.
    @discardableResult
    public func write() throws -> String {
        let c = try contents()
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        let files = [("README.md", markdown(c)), ("results.csv", csv(c.entries)), ("results.tex", latex(c)),
                     ("ablations.svg", c.ablations.isEmpty ? nil : ablationFigure(c.ablations)),
                     ("unseen.svg", unseenFigure(c.entries)), ("propagation.svg", propagationFigure(c.propagation))]
        for (name, text) in files {
            let path = results.appendingPathComponent(name)
            if let text { try AtomicFile.write(Data(text.utf8), to: path) } else { try? FileManager.default.removeItem(at: path) }
        }
        return results.appendingPathComponent("README.md").path
    }

    public func markdown() throws -> String { markdown(try contents()) }

    func markdown(_ contents: Contents) -> String {
        let entries = contents.entries
        let pct = ReportTable.pct
        let fallback = entries.flatMap { $0.splits.flatMap(\.notes) }.contains { $0.contains("train_revised.json absent") }
        let study = contents.study
        var s = study.introduction
        s += fallback ? study.fallbackCaveat + "\n" : "\n"
        s += "## Published results (F1, Re-DocRED)\n\n| system | dev | test | source |\n|---|---|---|---|\n"
        for p in study.published { s += "| \(p.system) | \(String(format: "%.2f", p.dev)) | \(String(format: "%.2f", p.test)) | \(p.source) |\n" }
        s += "\n" + study.publishedNote + "\n"

        s += "## \(study.runsHeading)\n\n"
        s += "F1 in %. `select` is the selection (dev) slice, `test` the test slice, as each config states.\n\n"
        s += "| experiment | paradigm | adapters | descriptions | order | LoRA | split | docs | AutoRE P | R | F1 | F1 95% interval | strict F1 | official F1 | Ign F1 | relations | heads | facts |\n"
        s += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for e in entries {
            let c = e.config
            for r in e.splits.sorted(by: { $0.split < $1.split }) {
                let a = r.autore.total
                s += "| [\(e.name)](\(e.name)/) | \(c?.paradigm.rawValue ?? "?") | \(e.adapters) | \(e.descriptions) | \(c?.promptOrder.rawValue ?? "?") | \(e.lora) | \(r.split) | \(r.documents) | \(pct(a.precision)) | \(pct(a.recall)) | **\(pct(a.f1))** | \(e.interval(r)) | \(pct(r.strict.total.f1)) | \(pct(r.official.total.f1)) | \(pct(r.official.ignF1)) | \(pct(r.stages.extra["relations"]?.f1)) | \(pct(r.stages.extra["heads"]?.f1)) | \(pct(r.stages.extra["facts"]?.f1)) |\n"
            }
        }
        s += "\nF1 95% interval: AutoRE F1's percentile interval over \(PairedBootstrap.defaultResamples) resamples of the documents (bootstrap, seed 0). relations / heads / facts: per-stage F1 of the pipeline's own outputs (relations of a document; (relation, subject) pairs; triples).\n\n"

        s += "## Cost\n\n| experiment | adapter | steps | epochs | training tokens / epoch | training time | extraction (split: documents/minute, tokens/s) |\n|---|---|---|---|---|---|---|\n"
        for e in entries {
            let ex = e.splits.compactMap { r in r.extraction.map { "\(r.split): \(String(format: "%.1f", $0.documentsPerMinute)) docs/min, \(String(format: "%.0f", $0.tokensPerSecond)) tok/s" } }.joined(separator: "; ")
            if e.training.isEmpty { s += "| \(e.name) | – | – | – | – | – | \(ex) |\n" }
            for (k, t) in e.training.enumerated() {
                let accumulation = e.config?.training.accumulation ?? 1
                var epochs = t.prefixGroups > 0 ? String(format: "%.2f", Double(t.steps * accumulation) / Double(t.prefixGroups)) : "–"
                if let from = t.initFrom { epochs += " (from \(URL(fileURLWithPath: from).deletingLastPathComponent().lastPathComponent))" }
                if t.stoppedEarly == true, let planned = t.plannedSteps { epochs += ", stopped early (\(planned) steps planned)" }
                let time = trainingSeconds(e.name, t.stage.rawValue).map(ProgressLine.clock) ?? ProgressLine.clock(t.seconds) + " (last session)"
                s += "| \(e.name) | \(t.stage) | \(t.steps) | \(epochs) | \(t.trainTokensPerEpoch) | \(time) | \(k == 0 || ex.isEmpty ? ex : "the same extraction (all stages)") |\n"
            }
        }
        s += "\nEpochs: optimizer steps × accumulated groups over the prefix groups of an epoch; a run started from another run's adapter (`training.init_from`) names it, and its earlier epochs are that run's. Training time: the steps and evaluations of every session, from the run's training log (the finishing session alone where no log was kept), on 2 cores.\n\n"
        s += decodingSection(entries)
        s += errorAnalysisSection(entries)
        s += frequentRelationsSection(entries)
        s += unseenSection(entries, propagation: contents.propagation)
        s += propagationSection(contents.propagation)
        s += timingSection(excluding: study.excluded)
        s += comparisonSection(entries, main: study.mainExperiment)
        s += baseModelSection(entries, pairs: study.baseModelComparisons)
        s += ablationSection(contents)
        s += seedSection(contents.seeds)

        s += "## Loss curves\n\n"
        for e in entries {
            let dir = results.appendingPathComponent(e.name)
            let svgs = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix("loss_") && $0.hasSuffix(".svg") }.sorted()
            guard !svgs.isEmpty else { continue }
            s += "- \(e.name): " + svgs.map { "[\($0.dropFirst(5).dropLast(4))](\(e.name)/\($0))" }.joined(separator: " · ") + "\n"
        }

        if let main = entries.first(where: { $0.name == study.mainExperiment }), let r = main.splits.first(where: { $0.split.hasPrefix("test") }) ?? main.splits.first {
            s += "\n## Per relation: \(main.name) on \(r.split) (AutoRE scoring, the 25 most frequent gold relations)\n\n| relation | gold | P | R | F1 |\n|---|---|---|---|---|\n"
            for (rel, p) in r.autore.perRelation.sorted(by: { ($0.value.gold, $1.key) > ($1.value.gold, $0.key) }).prefix(25) {
                s += "| \(rel) | \(p.gold) | \(pct(p.precision)) | \(pct(p.recall)) | \(pct(p.f1)) |\n"
            }
        }
        s += "\n## Commands\n\n"
        for e in entries { if let c = e.command { s += "- \(e.name): `\(c)`\n" } }
        return s
    }

    /// The seconds of every training step and evaluation that `train_log_<stage>.jsonl` of results folder
    /// `name` records, over all the sessions of the run; nil without that log.
    func trainingSeconds(_ name: String, _ stage: String) -> Double? {
        let path = results.appendingPathComponent(name).appendingPathComponent("train_log_\(stage).jsonl").path
        guard let records = try? MetricsLog.read(MetricsRecord.self, from: path), !records.isEmpty else { return nil }
        return MetricsRecord.trainingSeconds(records)
    }

    /// Each decoding variant (a config with `run:` naming another experiment) against that experiment, on
    /// the splits both scored: the same adapters, decoded otherwise, with a paired bootstrap.
    func decodingSection(_ entries: [Entry]) -> String {
        var s = ""
        let pct = ReportTable.pct
        for v in entries {
            guard let c = v.config, c.isDecodingVariant, let r = c.run, let base = entries.first(where: { $0.name == r }) else { continue }
            for vr in v.splits.sorted(by: { $0.split < $1.split }) {
                guard let br = base.splits.first(where: { $0.split == vr.split }) else { continue }
                if s.isEmpty { s = "## Decoding: the same adapters decoded otherwise (AutoRE scoring)\n\n" }
                s += "\(v.name) decodes with \(base.name)'s adapters; on \(vr.split) (\(vr.documents) documents):\n\n"
                s += "| experiment | AutoRE P | R | F1 | relations F1 | heads F1 | facts F1 | subjects / relation | names not in the document |\n|---|---|---|---|---|---|---|---|---|\n"
                for (e, x) in [(base, br), (v, vr)] {
                    let a = x.autore.total
                    let heads = x.analysis.map { $0.predictedRelations > 0 ? String(format: "%.2f", Double($0.predictedHeads) / Double($0.predictedRelations)) : "–" } ?? "–"
                    let outside = x.analysis.map { "\($0.namesOutsideDocument) of \($0.namesWritten)" } ?? "–"
                    s += "| \(e.name) | \(pct(a.precision)) | \(pct(a.recall)) | \(pct(a.f1)) | \(pct(x.stages.extra["relations"]?.f1)) | \(pct(x.stages.extra["heads"]?.f1)) | \(pct(x.stages.extra["facts"]?.f1)) | \(heads) | \(outside) |\n"
                }
                let lead = vr.autore.total.f1 >= br.autore.total.f1
                s += "\n" + (lead ? Self.bootstrapSentence(vr, br, of: "\(v.name) minus \(base.name)") : Self.bootstrapSentence(br, vr, of: "\(base.name) minus \(v.name)")) + "\n\n"
            }
        }
        return s
    }

    /// Where each run loses the gold facts (DocRE's `ErrorAnalysis`, computed when a split is scored).
    func errorAnalysisSection(_ entries: [Entry]) -> String {
        let rows = entries.flatMap { e in e.splits.sorted(by: { $0.split < $1.split }).compactMap { r in r.analysis.map { (e, r, $0) } } }
        guard !rows.isEmpty else { return "" }
        func ratio(_ a: Int, _ b: Int) -> String { b > 0 ? String(format: "%.2f", Double(a) / Double(b)) : "–" }
        var s = "## Where the gold facts are lost\n\n"
        s += "Of the gold facts: the share whose relation the run named, whose subject it also listed for that relation, and whose object it also wrote in a triple of that relation and subject (about its true positives). Then answers per question against gold: relations per document, subjects per relation, objects per subject (predicted / gold), and the share of written names (subjects, objects) that are no run of whole passage words.\n\n"
        s += "| experiment | split | relation named | + subject listed | + object found | relations / doc | subjects / relation | objects / subject | names not in the document |\n|---|---|---|---|---|---|---|---|---|\n"
        for (e, r, a) in rows {
            let c = a.cascade
            s += "| \(e.name) | \(r.split) | \(ReportTable.pct(c.relation)) | \(ReportTable.pct(c.head)) | \(ReportTable.pct(c.tail))"
            s += " | \(ratio(a.predictedRelations, a.documents)) / \(ratio(a.goldRelations, a.documents))"
            s += " | \(ratio(a.predictedHeads, a.predictedRelations)) / \(ratio(a.goldHeads, a.goldRelations))"
            s += " | \(ratio(a.predictedTriples, a.predictedPairs)) / \(ratio(a.goldFacts, a.goldHeads))"
            s += " | \(a.namesWritten > 0 ? ReportTable.pct(Double(a.namesOutsideDocument) / Double(a.namesWritten)) : "–") |\n"
        }
        return s + "\n"
    }

    /// Timed extractions (`timing_*.json`, written by `autore extract --timing`).
    func timingSection(excluding excluded: Set<String>) -> String {
        let fm = FileManager.default
        var rows: [(String, ExtractionTiming)] = []
        for n in ((try? fm.contentsOfDirectory(atPath: results.path)) ?? []).sorted() where !excluded.contains(n) {
            let dir = results.appendingPathComponent(n)
            for f in ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() where f.hasPrefix("timing_") && f.hasSuffix(".json") {
                if let t = try? ExtractionTiming.read(dir.appendingPathComponent(f).path) { rows.append(("\(n)/\(f)", t)) }
            }
        }
        guard !rows.isEmpty else { return "" }
        var s = "## Extraction time\n\nEach row is one `autore extract --timing` process and counts only the documents it extracted itself.\n\n"
        s += "| file | input | threads | documents | wall time | documents/minute | tokens/s (read + written) | read | written | questions |\n|---|---|---|---|---|---|---|---|---|---|\n"
        for (f, t) in rows {
            let x = t.statistics
            let resumed = t.resumedFrom > 0 ? " (resumed after \(t.resumedFrom))" : ""
            s += "| [\(f)](\(f)) | \(t.input) | \(t.threads) | \(x.documents)\(resumed) | \(ProgressLine.clock(x.seconds)) | \(String(format: "%.1f", x.documentsPerMinute)) | \(String(format: "%.0f", x.tokensPerSecond)) | \(x.promptTokens) | \(x.generatedTokens) | \(x.questions) |\n"
        }
        s += "\nCommands: " + rows.map { "`\($0.1.command)`" }.joined(separator: "; ") + "\n\n"
        return s
    }

    /// The main run beside every single-adapter run scored on the same documents, and what decides it.
    func comparisonSection(_ entries: [Entry], main mainExperiment: String) -> String {
        guard let main = entries.first(where: { $0.name == mainExperiment }) else { return "" }
        let single = entries.filter { $0.name != mainExperiment && $0.config?.adapterLayout == .shared && $0.config?.isDecodingVariant == false }
        var s = ""
        for m in main.splits.sorted(by: { $0.split < $1.split }) {
            let peers = single.compactMap { e in e.splits.first(where: { $0.split == m.split }).map { (e, $0) } }
            guard !peers.isEmpty else { continue }
            if s.isEmpty { s = "## The main run against single-adapter runs (same documents, AutoRE scoring)\n\n" }
            let pct = ReportTable.pct
            s += "On \(m.split) (\(m.documents) documents):\n\n| experiment | paradigm | adapters | trained on | AutoRE P | R | F1 | relations F1 | heads F1 | facts F1 |\n|---|---|---|---|---|---|---|---|---|---|\n"
            for (e, r) in [(main, m)] + peers.sorted(by: { $0.1.autore.total.f1 > $1.1.autore.total.f1 }) {
                let a = r.autore.total
                s += "| \(e.name) | \(e.config?.paradigm.rawValue ?? "?") | \(e.adapters) | \(e.config?.data.train ?? "?") | \(pct(a.precision)) | \(pct(a.recall)) | \(pct(a.f1)) | \(pct(r.stages.extra["relations"]?.f1)) | \(pct(r.stages.extra["heads"]?.f1)) | \(pct(r.stages.extra["facts"]?.f1)) |\n"
            }
            let best = peers.max(by: { $0.1.autore.total.f1 < $1.1.autore.total.f1 })!
            let d = 100 * (m.autore.total.f1 - best.1.autore.total.f1)
            let verdict = d > 0 ? "beats" : (d == 0 ? "ties with" : "falls behind")
            s += "\n\(main.name) \(verdict) the best single-adapter run (\(best.0.name), AutoRE F1 \(pct(best.1.autore.total.f1))) by \(String(format: "%+.2f", d)) points"
            // nil when either folder has no readable config
            let trainedOn = main.config.flatMap { mc in best.0.config.map { (main: mc.data.train, best: $0.data.train) } }
            if let t = trainedOn {
                s += t.main != t.best
                    ? "; the two were not trained on the same documents (\(t.main) against \(t.best)), so this row measures the system as shipped, and the three-against-one-adapter ablation on the shared slice is the controlled comparison"
                    : "; both were trained on the same documents (\(t.main)), so this is the controlled comparison of one adapter per stage against one shared adapter"
            }
            // the leader first, so that the one-sided p-value asks whether its lead is an accident of the documents
            s += ". " + (d >= 0 ? Self.bootstrapSentence(m, best.1) : Self.bootstrapSentence(best.1, m, of: "\(best.0.name) minus \(main.name)")) + "\n\n"
            if let t = trainedOn, t.main == t.best {
                s += Self.stageEvidence((main, m), best) + "\n\n"
            }
        }
        return s
    }

    /// Where two runs on the same training data differ: each stage's precision, recall and F1, and how long
    /// each adapter trained on what (its steps, examples and the checkpoint scored).
    static func stageEvidence(_ a: (Entry, SplitResult), _ b: (Entry, SplitResult)) -> String {
        func prf(_ r: SplitResult, _ st: String) -> String? {
            r.stages.extra[st].map { String(format: "%.1f/%.1f/%.1f", 100 * $0.precision, 100 * $0.recall, 100 * $0.f1) }
        }
        let cells = Stage.allCases.map(\.rawValue).compactMap { st in
            prf(a.1, st).flatMap { x in prf(b.1, st).map { "\(st) \(x) against \($0)" } }
        }
        var s = ""
        if !cells.isEmpty {
            s += "Stage scores, precision/recall/F1 of \(a.0.name) against \(b.0.name): " + cells.joined(separator: "; ") +
                " (heads are scored under gold relations and facts under gold (relation, head) pairs, so a stage's precision is its own," +
                " while its recall also counts what earlier stages missed). "
        }
        s += "Training: " + [a, b].map { e, r in
            let runs = e.training.map { t in
                "\(t.stage) \(t.steps) steps over \(t.examples) examples" + (r.adapterSteps[t.stage.rawValue].map { $0 == t.steps ? "" : " (checkpoint of step \($0) scored)" } ?? "")
            }
            return "\(e.name) " + (runs.isEmpty ? "(no training summary)" : runs.joined(separator: ", "))
        }.joined(separator: "; ") + "."
        return s
    }

    /// The paired bootstrap of `a` against `b` in words (or why there is none).
    static func bootstrapSentence(_ a: SplitResult, _ b: SplitResult, of label: String? = nil) -> String {
        guard let pa = a.autore.perDocument, let pb = b.autore.perDocument else {
            return "(No per-document counts in these metrics files for a paired test: `autore report --rescore` adds them.)"
        }
        guard let t = PairedBootstrap(pa, pb) else { return "(The two were not scored on the same documents: no paired test.)" }
        return bootstrapSentence(t, of: label)
    }

    /// A paired bootstrap of the leader against another run, in words.
    static func bootstrapSentence(_ t: PairedBootstrap, of label: String? = nil) -> String {
        let separated = t.interval.lowerBound > 0 || t.interval.upperBound < 0
        return "Paired bootstrap\(label.map { " of " + $0 } ?? "") over the \(t.documents) documents (\(t.resamples) resamples): 95% interval of the difference " +
            "\(Self.interval(t)) points, p = \(String(format: "%.3f", t.pValue)); " +
            (separated ? "the interval excludes 0." : "the interval includes 0, so these documents do not separate the two.")
    }

    static func interval(_ t: PairedBootstrap) -> String {
        String(format: "[%+.2f, %+.2f]", 100 * t.interval.lowerBound, 100 * t.interval.upperBound)
    }

    /// A question the ablations answer: the experiments whose configs differ only in the compared setting.
    struct AblationAxis {
        var title: String
        var column: String
        /// The compared setting of a config, as a table cell.
        var value: (ExperimentConfig) -> String
        /// The config with the compared setting put to one common value: configs equal after this (and
        /// after resetting what does not shape training) are compared with each other.
        var common: (ExperimentConfig) -> ExperimentConfig
        /// Whether a group of such configs answers the question (default: any two values).
        var applies: ([ExperimentConfig]) -> Bool = { _ in true }
    }

    /// What a run trains, as a table cell: `full, Float32, lr 5e-05` or `QLoRA r16 α32 q,v over nf4, lr 3e-04`.
    static func trainedWeights(_ c: ExperimentConfig) -> String {
        let rate = String(format: "lr %.0e", c.optimizer.learningRate)
        return c.fineTuning == .full ? "every weight, Float32, \(rate)" : "LoRA \(lora(c)) over \(c.quantization.rawValue), \(rate)"
    }

    /// How many adapters of which rank a config trains.
    static func adapters(_ c: ExperimentConfig) -> String {
        c.adapterLayout == .perStage ? "\(c.paradigm.stages.count) × r\(c.lora.rank)" : "1 × r\(c.lora.rank)"
    }

    /// The paper's ablations (Xue et al. 2024): paradigm and descriptions, one against three adapters (of
    /// equal total rank, and of equal rank each), prompt order, and the LoRA settings.
    static let axes: [AblationAxis] = [
        AblationAxis(title: "Paradigm and relation descriptions", column: "paradigm · descriptions",
                     value: { "\($0.paradigm.rawValue) · \(($0.descriptions ?? $0.paradigm.defaultDescriptions).rawValue)" },
                     common: { var c = $0; c.paradigm = .D_R_H_F; c.descriptions = nil; return c }),
        AblationAxis(title: "One adapter per stage against one adapter of the same total rank", column: "adapters", value: adapters,
                     common: { c in
                         guard c.adapterLayout == .perStage else { return c }
                         var d = c
                         let k = c.paradigm.stages.count
                         d.adapterLayout = .shared; d.lora.rank *= k; d.lora.alpha *= Float(k)
                         return d
                     }),
        AblationAxis(title: "One adapter per stage against one adapter of the same rank", column: "adapters", value: adapters,
                     common: { var c = $0; if c.adapterLayout == .perStage { c.adapterLayout = .shared }; return c }),
        AblationAxis(title: "Prompt order", column: "order", value: { $0.promptOrder.rawValue },
                     common: { var c = $0; c.promptOrder = .documentFirst; return c }),
        AblationAxis(title: "LoRA rank and targets", column: "LoRA",
                     value: lora,
                     common: { var c = $0; c.lora = LoRASettings(); return c }),
        // One base model's frozen weights in their GGUF blocks against NF4 over their dequantized values.
        AblationAxis(title: "The base in its GGUF blocks against NF4", column: "base · quantization",
                     value: { "\($0.baseModel) · \($0.quantization.rawValue)" },
                     common: { var c = $0; c.quantization = .native; return c },
                     applies: { cs in cs.allSatisfy { $0.fineTuning == .lora } }),
        // Every weight against adapters at equal steps: the method, its base precision and its learning rate
        // may differ.
        AblationAxis(title: "Full fine-tuning against LoRA at equal steps", column: "trained weights", value: trainedWeights,
                     common: { var c = $0; c.fineTuning = .lora; c.quantization = .nf4; c.lora = LoRASettings()
                               c.optimizer.learningRate = OptimizerSettings().learningRate
                               return c },
                     applies: { cs in cs.contains { $0.fineTuning == .full } && cs.contains { $0.fineTuning == .lora } }),
    ]

    /// The experiments of one ablation axis that differ only there, scored on one split, best first.
    struct AblationTable {
        var axis: AblationAxis
        var split: String
        var documents: Int
        var rows: [AblationRow]
        var best: AblationRow { rows[0] }
    }

    struct AblationRow {
        var entry: Entry
        var result: SplitResult
        /// The best row's paired bootstrap against this one (nil for the best row, or without
        /// per-document counts).
        var test: PairedBootstrap?
        var setting: String
    }

    /// For each ablation axis, the experiments that differ only there, on each split they share, best
    /// first, each with the paired bootstrap of the best against it.
    func ablationTables(_ entries: [Entry]) -> [AblationTable] {
        var tables: [AblationTable] = []
        for axis in Self.axes {
            var groups: [(key: ExperimentConfig, members: [(Entry, ExperimentConfig)])] = []
            for e in entries {
                guard let c = e.config else { continue }
                // a decoding variant (`run:`) is not an ablation of the axis; the decoding section compares it
                guard !c.isDecodingVariant else { continue }
                var key = axis.common(c).trainingPart
                key.name = ""
                if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].members.append((e, c)) } else { groups.append((key, [(e, c)])) }
            }
            for g in groups where Set(g.members.map { axis.value($0.1) }).count > 1 && axis.applies(g.members.map(\.1)) {
                let splits = Set(g.members.flatMap { $0.0.splits.map(\.split) }).sorted()
                for split in splits {
                    let scored = g.members.compactMap { m in m.0.splits.first { $0.split == split }.map { (m.0, m.1, $0) } }
                        .sorted { ($0.2.autore.total.f1, $1.0.name) > ($1.2.autore.total.f1, $0.0.name) }
                    guard scored.count > 1, let best = scored.first else { continue }
                    let rows = scored.enumerated().map { i, m in
                        AblationRow(entry: m.0, result: m.2,
                                    test: i == 0 ? nil : best.2.autore.perDocument.flatMap { pa in m.2.autore.perDocument.flatMap { PairedBootstrap(pa, $0) } },
                                    setting: axis.value(m.1))
                    }
                    tables.append(AblationTable(axis: axis, split: split, documents: best.2.documents, rows: rows))
                }
            }
        }
        return tables
    }

    func ablationSection(_ contents: Contents) -> String {
        let pct = ReportTable.pct
        let tables = contents.ablations
        guard !tables.isEmpty else { return "" }
        var s = "## Ablations (same training slice, same documents, AutoRE scoring)\n\n"
        s += "Each table holds experiments whose configs differ only in the setting named. \"behind the best\" is the best row's F1 minus this row's, with the 95% interval and one-sided p of a paired bootstrap over the documents (\(PairedBootstrap.defaultResamples) resamples, seed 0): an interval that includes 0 means these documents do not separate the two. [ablations.svg](ablations.svg) draws every table with each run's own interval.\n\n"
        s += "The bootstrap draws documents again; it does not train again, so it leaves out what the training seed moves" + (contents.seeds.isEmpty ? " (runs that differ only in `training.seed` would measure that).\n\n" : ": see \"Training seeds\" below for that spread, which a gap must also exceed.\n\n")
        for t in tables {
            s += "### \(t.axis.title): \(t.split) (\(t.documents) documents)\n\n"
            s += "| experiment | \(t.axis.column) | AutoRE P | R | F1 | relations F1 | heads F1 | facts F1 | behind the best | 95% interval | p |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
            for (i, row) in t.rows.enumerated() {
                let r = row.result, a = r.autore.total
                var test = "| – | – | –"
                if i > 0 {
                    let d = String(format: "%+.2f", 100 * (t.best.result.autore.total.f1 - a.f1))
                    test = row.test.map { "| \(d) | \(Self.interval($0)) | \(String(format: "%.3f", $0.pValue))" } ?? "| \(d) | no per-document counts | –"
                }
                s += "| [\(row.entry.name)](\(row.entry.name)/) | \(row.setting) | \(pct(a.precision)) | \(pct(a.recall)) | \(pct(a.f1)) | \(pct(r.stages.extra["relations"]?.f1)) | \(pct(r.stages.extra["heads"]?.f1)) | \(pct(r.stages.extra["facts"]?.f1)) \(test) |\n"
            }
            let best = t.best, runnerUp = t.rows[1], lead = best.result.autore.total.f1 - runnerUp.result.autore.total.f1
            s += lead == 0
                ? "\nNo winner: \(best.entry.name) (\(best.setting)) and \(runnerUp.entry.name) (\(runnerUp.setting)) have the same AutoRE F1, \(pct(best.result.autore.total.f1)).\n\n"
                : "\nBest: \(best.entry.name) (\(best.setting)), ahead of \(runnerUp.entry.name) (\(runnerUp.setting)) by \(String(format: "%+.2f", 100 * lead)) points. \(runnerUp.test.map { Self.bootstrapSentence($0) } ?? Self.bootstrapSentence(best.result, runnerUp.result))\n\n"
        }
        return s
    }

    /// Runs of one config that differ only in the training seed, on one split they were all scored on.
    struct SeedGroup {
        var split: String
        var runs: [(entry: Entry, seed: UInt64, result: SplitResult)]
        /// Mean and sample standard deviation (n − 1) of a score over the runs.
        func spread(_ score: (SplitResult) -> Double) -> (mean: Double, std: Double, min: Double, max: Double) {
            let x = runs.map { score($0.result) }
            let mean = x.reduce(0, +) / Double(x.count)
            let std = (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count - 1)).squareRoot()
            return (mean, std, x.min()!, x.max()!)
        }
    }

    /// Experiments whose configs differ only in `training.seed`, grouped, on each split two or more share
    /// (lowest seed first).
    func seedGroups(_ entries: [Entry]) -> [SeedGroup] {
        var groups: [(key: ExperimentConfig, members: [(Entry, UInt64)])] = []
        for e in entries {
            guard let c = e.config else { continue }
            var key = c.trainingPart
            key.name = ""; key.training.seed = 0
            if let i = groups.firstIndex(where: { $0.key == key }) { groups[i].members.append((e, c.training.seed)) } else { groups.append((key, [(e, c.training.seed)])) }
        }
        var out: [SeedGroup] = []
        for g in groups where Set(g.members.map(\.1)).count > 1 {
            let members = g.members.sorted { ($0.1, $0.0.name) < ($1.1, $1.0.name) }
            for split in Set(members.flatMap { $0.0.splits.map(\.split) }).sorted() {
                let runs = members.compactMap { m in m.0.splits.first { $0.split == split }.map { (entry: m.0, seed: m.1, result: $0) } }
                if Set(runs.map(\.seed)).count > 1 { out.append(SeedGroup(split: split, runs: runs)) }
            }
        }
        return out
    }

    func seedSection(_ groups: [SeedGroup]) -> String {
        guard !groups.isEmpty else { return "" }
        func f(_ x: (mean: Double, std: Double, min: Double, max: Double)) -> String {
            String(format: "%.2f ± %.2f | %.2f | %.2f", 100 * x.mean, 100 * x.std, 100 * x.min, 100 * x.max)
        }
        var s = "## Training seeds (same config, different `training.seed`)\n\n"
        s += "Mean ± sample standard deviation (n − 1) over the runs, with the lowest and highest; F1 in %. The spread is what a change of seed alone moves a score by: a gap between two settings smaller than it is not a finding.\n\n"
        s += "| experiments | split | runs (seeds) | AutoRE F1 mean ± std | min | max | official F1 mean ± std | min | max |\n|---|---|---|---|---|---|---|---|---|\n"
        for g in groups {
            s += "| \(g.runs.map { "[\($0.entry.name)](\($0.entry.name)/)" }.joined(separator: ", ")) | \(g.split) | \(g.runs.count) (\(g.runs.map { "\($0.seed)" }.joined(separator: ", "))) | \(f(g.spread { $0.autore.total.f1 })) | \(f(g.spread { $0.official.total.f1 })) |\n"
        }
        return s + "\n"
    }
}

