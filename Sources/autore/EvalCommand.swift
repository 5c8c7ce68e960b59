// `autore eval`: score a predictions file (or the oracle) with the AutoRE, strict, official or
// per-stage metric; optionally print per-relation tables and write the benchmark submission file.
// With --stages oracle: a run's pipeline with gold answers fed into its stages in turn (ErrorPropagation).
import ArgumentParser
import DocRE
import Experiments
import Foundation
import RHF
import Reporting
import Support

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Score predictions on a split.")

    @OptionGroup var location: DataLocationOptions
    @Option(help: "Split: train, select, dev, test, optionally sliced (test[0:50]).") var split = "dev"
    @Option(help: "Predictions JSONL (one line per document).") var predictions: String?
    @Option(help: "Metric: autore, strict, official, stages or all.") var metric = MetricSelection.all
    @Flag(help: "Answer every stage with the gold answer as the builder writes it.") var oracle = false
    @OptionGroup var paradigm: ParadigmArguments
    @Option(help: "Official metric: link a name to all entities having it, or the first.") var linking = "all"
    @Option(help: "Write the benchmark submission rows (title, h_idx, t_idx, r) here.") var submission: String?
    @Option(help: "Write the (oracle) predictions JSONL here.") var writePredictions: String?
    @Flag(help: "Print the per-relation table.") var perRelation = false
    @Option(help: "Similarity ratio for span repair.") var repairThreshold = 0.75
    @Flag(help: "Do not repair entity strings.") var noRepair = false
    @Flag(help: "Add inverse triples for known inverse pairs.") var inverseCompletion = false
    @Flag(help: "Read the predicted triples through the parser first, as a new extraction would parse the same answers.")
    var reparse = false
    @Flag(help: "Drop a predicted triple whose object is its subject (implies --reparse).") var dropSelfRelations = false
    @Option(help: ArgumentHelp("Compare with these predictions of the same documents: AutoRE F1 of --predictions minus theirs, with a paired bootstrap over documents (95% interval, one-sided p).",
                               valueName: "file")) var against: String?
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .customLong("results"), help: ArgumentHelp("Also write metrics_<split>.json, the form `autore report` reads, into this results folder (with --stages oracle: oracle_<split>.json and each row's predictions).",
                               valueName: "folder")) var resultsFolder: String?
    @Option(help: ArgumentHelp("oracle: run --run's pipeline with gold answers fed into its stages in turn (relations; relations and heads; every stage) beside its own predictions, reusing the answers of --predictions (default: the run's results folder's).",
                               valueName: "oracle")) var stages: String?
    @Option(name: .customLong("run"), help: "With --stages oracle: the run folder whose adapters and config answer.") var runFolder: String?

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        if let stages {
            guard stages == "oracle" else { throw ValidationError("--stages takes oracle") }
            guard let runFolder else { throw ValidationError("--stages oracle needs --run <run folder>") }
            let r = try ErrorPropagation.run(runFolder: runFolder, split: split, dataDir: location.dataDir, predictions: predictions,
                                             results: resultsFolder, command: commandLine(),
                                             say: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
            for n in r.notes { print("note: \(n)") }
            let base = r.row(.none)
            print("gold answers fed into          AutoRE P      R     F1    vs fully predicted   model questions  answers given")
            for row in r.rows {
                let a = row.autore.total
                let gain = base.map { String(format: "%+6.2f", 100 * (a.f1 - $0.autore.total.f1)) } ?? "     –"
                print(row.feed.label.padding(toLength: 28, withPad: " ", startingAt: 0) +
                      String(format: " %8.2f %6.2f %6.2f    %@            %6d         %6d", 100 * a.precision, 100 * a.recall, 100 * a.f1,
                             gain as NSString, row.extraction.questions, row.extraction.suppliedAnswers ?? 0))
            }
            if let resultsFolder { print("wrote \(ErrorPropagationResult.file(in: ResultsDirectory(URL(fileURLWithPath: resultsFolder)), split: split))") }
            return
        }
        let (docs, note, cat) = try location.documents(split)
        var notes: [String] = note.map { [$0] } ?? []
        let parser = OutputParser(catalogue: cat, options: ParserOptions(
            repairSpans: !noRepair, repairThreshold: repairThreshold, inverseCompletion: inverseCompletion,
            dropSelfRelations: dropSelfRelations))
        // Saved triples are read through the parser again when its options would change them.
        let rereads = inverseCompletion || reparse || dropSelfRelations
        var preds: [PredictionRecord]
        if oracle {
            let b = try paradigm.builder(catalogue: cat, dataDir: location.dataDir)
            let (recs, rep) = try Oracle(builder: b, parser: parser).predictions(for: docs)
            preds = recs
            notes.append("oracle \(b.paradigm.rawValue): parsed \(rep.items) items from \(rep.lines) lines, repaired \(rep.repaired), dropped \(rep.dropped), unparseable \(rep.unparseable)")
        } else {
            guard let p = predictions else { throw ValidationError("pass --predictions or --oracle") }
            preds = try PredictionRecord.load(URL(fileURLWithPath: p))
            if rereads {
                preds = preds.map { r in var r = r; r.triples = reparsed(r, parser); return r }
            }
        }
        if let w = writePredictions { try PredictionRecord.write(preds, to: URL(fileURLWithPath: w)) }
        // The training split (Ign F1's training facts), read once for the official metric and --results.
        var trainSplitRead = false, trainSplit: (documents: [Document], note: String?)?
        func train() -> (documents: [Document], note: String?)? {
            if !trainSplitRead { trainSplit = (try? location.loader()).flatMap { try? $0.load(.train) }; trainSplitRead = true }
            return trainSplit
        }
        if let resultsFolder { try writeResults(preds, docs: docs, train: train()?.documents ?? [], catalogue: cat, notes: notes, to: resultsFolder) }
        guard let link = EntityLinking(rawValue: linking) else { throw ValidationError("--linking all|first") }
        let ev = Evaluator(documents: docs, catalogue: cat)
        let metrics = metric.metrics
        var results: [Scores] = []
        for m in metrics {
            switch m {
            case .autore: results.append(ev.autore(preds))
            case .strict: results.append(ev.autore(preds, strict: true))
            case .stages: results.append(ev.stages(preds))
            case .official:
                var trainDocs: [Document] = []
                if let (t, n) = train() {
                    trainDocs = t
                    if let n = n { notes.append("Ign F1 train facts: \(n)" + (split.hasPrefix("dev") || split.hasPrefix("select") ? " (overlaps dev: use test for Ign F1)" : "")) }
                } else { notes.append("Ign F1: no training split found; Ign F1 = F1") }
                var s = ev.official(preds, trainFacts: Evaluator.trainFacts(trainDocs), linking: link)
                s.notes += notes
                results.append(s)
                if let sub = submission {
                    let rows = ev.submission(preds, linking: link).rows
                    let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
                    try AtomicFile.write(try e.encode(rows), to: URL(fileURLWithPath: sub))
                }
            }
        }
        if json {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            var rs = results
            if !perRelation { for i in rs.indices { rs[i].perRelation = [:] } }
            print(String(decoding: try e.encode(rs), as: UTF8.self))
            return
        }
        for n in notes { print("note: \(n)") }
        func line(_ name: String, _ p: PRF) -> String {
            String(format: "%-28@ P %6.2f  R %6.2f  F1 %6.2f   (tp %d, fp %d, gold %d)", name as NSString,
                   100 * p.precision, 100 * p.recall, 100 * p.f1, p.tp, p.fp, p.gold)
        }
        for s in results {
            print(line(s.metric.rawValue, s.total))
            if let ig = s.ignF1 { print(String(format: "%-28@ Ign F1 %6.2f  (Ign P %6.2f)", "official ign" as NSString, 100 * ig, 100 * (s.ignPrecision ?? 0))) }
            for k in ["relations", "heads", "facts"] { if let p = s.extra[k] { print(line("  stage " + k, p)) } }
            for n in s.notes where !notes.contains(n) { print("  note: \(n)") }
            if perRelation {
                for (r, p) in s.perRelation.sorted(by: { $0.value.gold > $1.value.gold }) { print("  " + line(r, p)) }
            }
        }
        if let against {
            // the other system read as this one (re-parsed too when asked), scored on the same documents
            var other = try PredictionRecord.load(URL(fileURLWithPath: against))
            if rereads { other = other.map { r in var r = r; r.triples = reparsed(r, parser); return r } }
            // a document missing from one file would count as found-nothing: refuse rather than compare a partial file
            let a = Set(preds.map(\.title)), b0 = Set(other.map(\.title))
            guard a == b0 else {
                throw ValidationError("\(against): not predictions of the same documents as \(predictions ?? "the oracle"): \(a.subtracting(b0).count) of its titles are missing and \(b0.subtracting(a).count) are extra")
            }
            let mine = ev.autore(preds), theirs = ev.autore(other)
            guard let b = PairedBootstrap(mine.perDocument ?? [], theirs.perDocument ?? []) else {
                throw ValidationError("\(against): no document of \(split) to compare on")
            }
            print(String(format: "against %@: AutoRE F1 %.2f vs %.2f, difference %+.2f, 95%% interval [%+.2f, %+.2f], p %.4f (paired bootstrap over %d documents, %d resamples)",
                         against, 100 * mine.total.f1, 100 * theirs.total.f1, 100 * b.difference, 100 * b.interval.lowerBound,
                         100 * b.interval.upperBound, b.pValue, b.documents, b.resamples))
        }
        if case .all = metric {
            let a = ErrorAnalysis(documents: docs, predictions: preds, catalogue: cat), c = a.cascade
            func per(_ x: Int, _ y: Int) -> Double { y > 0 ? Double(x) / Double(y) : 0 }
            print(String(format: "gold facts reachable: relation named %.1f%%, + subject listed %.1f%%, + object found %.1f%%",
                         100 * c.relation, 100 * c.head, 100 * c.tail))
            print(String(format: "answers (predicted / gold): relations per document %.2f / %.2f, subjects per relation %.2f / %.2f, objects per subject %.2f / %.2f",
                         per(a.predictedRelations, a.documents), per(a.goldRelations, a.documents), per(a.predictedHeads, a.predictedRelations),
                         per(a.goldHeads, a.goldRelations), per(a.predictedTriples, a.predictedPairs), per(a.goldFacts, a.goldHeads)))
            print(String(format: "names not in the document: %d of %d (%.1f%%)", a.namesOutsideDocument, a.namesWritten,
                         100 * per(a.namesOutsideDocument, a.namesWritten)))
        }
    }

    /// A record's triples read again through `parser` (as one answer, one triple a line).
    func reparsed(_ r: PredictionRecord, _ parser: OutputParser) -> [[String]] {
        parser.parseTriples(r.tripleValues.map { TripletFormat.render($0) }.joined(separator: "\n"), passage: nil).triples.map { [$0.head, $0.relation, $0.tail] }
    }

    /// The scores of every metric as a results folder keeps them (Ign F1 against the training split).
    func writeResults(_ preds: [PredictionRecord], docs: [Document], train: [Document], catalogue: RelationCatalogue,
                      notes: [String], to folder: String) throws {
        let dir = ResultsDirectory(URL(fileURLWithPath: folder))
        try dir.create()
        let source = predictions.map { "predictions: \($0)" } ?? "oracle answers"
        let r = SplitResult(experiment: dir.url.lastPathComponent, split: split, documents: docs, predictions: preds,
                            trainDocuments: train, catalogue: catalogue, extraction: nil, adapterSteps: [:],
                            notes: notes + ["scored by autore eval (\(source))"])
        try dir.write(r)
        print("wrote \(dir.metrics(split))")
    }
}

/// `--metric`: one metric, or every metric and the error analysis (`all`).
enum MetricSelection: ExpressibleByArgument, CustomStringConvertible {
    case all
    case one(Metric)

    init?(argument: String) {
        if argument == "all" { self = .all; return }
        guard let m = Metric(rawValue: argument) else { return nil }
        self = .one(m)
    }

    var description: String {
        if case .one(let m) = self { return m.rawValue }
        return "all"
    }

    var metrics: [Metric] {
        if case .one(let m) = self { return [m] }
        return Metric.allCases
    }
}
