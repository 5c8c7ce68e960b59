// What an experiment leaves for a paper: predictions and every metric per evaluated split, written to
// `Experiments/results/<name>/` with the config and the command that made them; extraction that resumes
// from the predictions already written. Not the table across experiments (Report).
import DocRE
import FineTuning
import Foundation
import LanguageModels
import RHF
import Support

/// Scores of one prediction set on one split, under every metric.
public struct SplitResult: Codable {
    public var experiment: String
    /// The split as the config names it (`select`, `test[0:100]`, …) and the documents scored.
    public var split: String
    public var documents: Int
    /// AutoRE's scoring (a triple counts when head, relation and tail strings match a gold fact by any
    /// mention name), its strict form, the official entity-level metric with Ign F1, and per stage.
    public var autore: Scores
    public var strict: Scores
    public var official: Scores
    public var stages: Scores
    public var extraction: ExtractionStatistics?
    /// The optimizer step of each stage's adapter.
    public var adapterSteps: [String: Int]
    public var notes: [String]
    /// Where the gold facts are lost, stage by stage (absent in files scored before it existed).
    public var analysis: ErrorAnalysis?
    /// F1 on the relations training saw and on the held-out ones (runs with `data.held_out_relations`).
    public var unseen: UnseenRelationScores?

    /// Scores `predictions` on `documents`; `trainDocuments` gives Ign F1's training facts.
    public init(experiment: String, split: String, documents: [Document], predictions: [PredictionRecord],
                trainDocuments: [Document], catalogue: RelationCatalogue, extraction: ExtractionStatistics?,
                adapterSteps: [String: Int], notes: [String]) {
        let ev = Evaluator(documents: documents, catalogue: catalogue)
        self.experiment = experiment; self.split = split; self.documents = documents.count
        autore = ev.autore(predictions)
        strict = ev.autore(predictions, strict: true)
        official = ev.official(predictions, trainFacts: Evaluator.trainFacts(trainDocuments))
        stages = ev.stages(predictions)
        strict.perRelation = [:]; official.perRelation = [:]; stages.perRelation = [:]; strict.perDocument = nil
        analysis = ErrorAnalysis(documents: documents, predictions: predictions, catalogue: catalogue)
        self.extraction = extraction; self.adapterSteps = adapterSteps; self.notes = notes
    }

    /// This result scored again on `documents` with this build's evaluator: what the extraction measured
    /// (speed, adapter steps, notes) is kept; every score is recomputed.
    public func rescored(documents: [Document], predictions: [PredictionRecord], trainDocuments: [Document],
                         catalogue: RelationCatalogue) -> SplitResult {
        var r = SplitResult(experiment: experiment, split: split, documents: documents, predictions: predictions,
                            trainDocuments: trainDocuments, catalogue: catalogue, extraction: extraction,
                            adapterSteps: adapterSteps, notes: notes)
        r.unseen = unseen.map { UnseenRelationScores(heldOut: $0.heldOut, documents: documents, predictions: predictions, catalogue: catalogue) }
        return r
    }
}

/// The JSON of the files run and results folders keep (metrics, summaries, timings): indented, keys
/// sorted (the same bytes in every process), non-finite numbers as the strings "inf", "-inf", "nan".
public enum ResultsJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try enc.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try dec.decode(type, from: data)
    }

    /// Written to a temporary name and renamed: a killed process leaves the old file or the new one.
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        try AtomicFile.write(try encode(value), to: URL(fileURLWithPath: path))
    }
}

/// The results folder of one experiment.
public struct ResultsDirectory {
    public let url: URL
    public init(_ url: URL) { self.url = url }
    public static func forExperiment(_ name: String, root: URL = DataLocation.root) -> ResultsDirectory {
        ResultsDirectory(root.appendingPathComponent("Experiments/results/\(name)"))
    }
    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }
    /// `test[0:100]` → `test_0-100`: a split as a file-name part.
    public static func tag(_ split: String) -> String {
        split.replacingOccurrences(of: "[", with: "_").replacingOccurrences(of: ":", with: "-").replacingOccurrences(of: "]", with: "")
    }
    public func predictions(_ split: String) -> String { file("predictions_\(Self.tag(split)).jsonl") }
    public func metrics(_ split: String) -> String { file("metrics_\(Self.tag(split)).json") }
    /// Which decoding wrote `predictions(split)` (`ExtractionRecord`).
    public func extractionRecord(_ split: String) -> String { file("extraction_\(Self.tag(split)).json") }
    public func create() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }

    public func write(_ result: SplitResult) throws { try ResultsJSON.write(result, to: metrics(result.split)) }

    /// The predictions scored as `split`: its own file, else that of the whole split it is a slice of
    /// (`autore eval --results` scores a slice of a run's predictions; documents are matched by title).
    public func predictionsScored(as split: String) -> String? {
        let whole = String(split.prefix { $0 != "[" })
        return [predictions(split), predictions(whole)].first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Every metrics file of the folder (one per split scored), by file name.
    public func scored() throws -> [SplitResult] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return try files.sorted().filter { $0.hasPrefix("metrics_") && $0.hasSuffix(".json") }.compactMap { f in
            try read(url: URL(fileURLWithPath: file(f)))
        }
    }

    public func read(_ split: String) throws -> SplitResult? { try read(url: URL(fileURLWithPath: metrics(split))) }

    /// A metrics file; nil when there is none.
    func read(url: URL) throws -> SplitResult? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do { return try ResultsJSON.decode(SplitResult.self, from: data) } catch {
            throw AutoREError("\(url.path): not a metrics file of this version (\(error))")
        }
    }
}

/// A timed extraction (`autore extract --timing F`): what ran, on how many threads, and what it cost.
/// The report lists every `timing_*.json` of a results folder.
public struct ExtractionTiming: Codable {
    public var command: String
    public var input: String
    public var threads: Int
    public var date: String
    public var statistics: ExtractionStatistics
    /// Documents a resumed extraction found already done (not timed).
    public var resumedFrom: Int

    public init(command: String, input: String, threads: Int, statistics: ExtractionStatistics, resumedFrom: Int) {
        self.command = command; self.input = input; self.threads = threads; self.statistics = statistics
        self.resumedFrom = resumedFrom
        date = ISO8601DateFormatter().string(from: Date())
    }

    public func write(to path: String) throws { try ResultsJSON.write(self, to: path) }

    public static func read(_ path: String) throws -> ExtractionTiming {
        guard let data = FileManager.default.contents(atPath: path) else { throw AutoREError("\(path): cannot read the file") }
        do { return try ResultsJSON.decode(ExtractionTiming.self, from: data) } catch {
            throw AutoREError("\(path): not an extraction timing file (\(error))")
        }
    }
}
