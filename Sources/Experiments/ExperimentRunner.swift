// `autore run`: an experiment from its config to its results — train the adapters it names (resuming),
// put them on one base, extract on the selection and test documents (resuming), score every metric, and
// write the results folder. `autore sweep` runs many. Not the scoring (DocRE) nor the table (Report).
import Distributed
import DocRE
import FineTuning
import Foundation
import LanguageModels
import RHF
import Support

public struct ExperimentRunner {
    public var configPath: String
    public var config: ExperimentConfig
    public var configText: String
    public var dataDir: String?
    /// The command line that made the results (recorded beside them).
    public var command: String
    public var runs: RunDirectory
    public var results: ResultsDirectory

    /// The experiment of `configPath` with `overrides` applied (`--set`, a sweep's grid).
    public init(configPath: String, overrides: [ConfigOverride] = [], dataDir: String? = nil, command: String,
                runsRoot: URL? = nil, resultsRoot: URL? = nil) throws {
        self.configPath = configPath
        (config, configText) = try SweepExperiment(config: configPath, overrides: overrides).load()
        self.dataDir = dataDir
        self.command = command
        let name = config.name, run = config.run ?? config.name
        runs = runsRoot.map { RunDirectory($0.appendingPathComponent(run)) } ?? RunDirectory.forExperiment(run)
        results = resultsRoot.map { ResultsDirectory($0.appendingPathComponent(name)) } ?? ResultsDirectory.forExperiment(name)
    }

    /// The splits scored: the config's selection and test documents.
    public var splits: [String] { [config.data.select, config.data.test] }

    /// True when every split has its metrics file, written with this config.
    public func isFinished() -> Bool {
        guard madeTheResults() else { return false }
        return splits.allSatisfy { FileManager.default.fileExists(atPath: results.metrics($0)) }
    }

    /// Where the experiment stands, read from its folders alone: each adapter run trained (with its steps),
    /// at its last logged step, or not started; each split scored, or how many documents its predictions
    /// file holds.
    public func progress() -> String {
        let fm = FileManager.default
        var parts: [String] = []
        for plan in config.adapterRuns(in: runs) {
            let d = plan.directory
            if let data = fm.contents(atPath: d.file("summary.json")), let s = try? ResultsJSON.decode(AdapterRunSummary.self, from: data) {
                parts.append("\(plan.scope): trained (\(s.steps) steps)")
            } else if let last = (try? MetricsLog.read(MetricsRecord.self, from: d.file("metrics.jsonl")))?.last(where: { $0.kind == .train }) {
                parts.append("\(plan.scope): training, last logged step \(last.step)")
            } else {
                parts.append("\(plan.scope): not started")
            }
        }
        let ours = madeTheResults()
        for split in splits {
            if ours && fm.fileExists(atPath: results.metrics(split)) {
                parts.append("\(split): scored")
            } else if ours, let n = try? PredictionRecord.load(URL(fileURLWithPath: results.predictions(split))).count {
                parts.append("\(split): \(n) documents extracted")
            } else {
                parts.append("\(split): not extracted")
            }
        }
        return parts.joined(separator: "; ")
    }

    /// Whether the results folder's config is this one: the same text, or the same `resultsPart` (comments,
    /// formatting, the path a derived config names in its header and the compute note may differ).
    func madeTheResults() -> Bool {
        guard let stored = try? String(contentsOfFile: results.file("config.yaml"), encoding: .utf8) else { return false }
        if stored == configText { return true }
        return (try? ExperimentConfig.parse(stored, file: results.file("config.yaml")))?.resultsPart == config.resultsPart
    }

    /// What the lead tells the other ranks after trying the run folder's lock.
    struct LockOutcome: Codable { var busy: String?; var error: String? }

    /// Trains, extracts and scores; returns the split results.
    ///
    /// With a `communicator` of several ranks (`mpirun -np N autore run`, or a group of a sweep's ranks),
    /// every rank trains (data parallel) and extracts (documents shared) and rank 0 alone holds the run's
    /// lock, writes the results folder and speaks; the other ranks return no results.
    @discardableResult
    public func run(base: LoadedModel? = nil, stop: StopCondition = .never, communicator comm: Communicator = SingleProcess(),
                    say speak: (String) -> Void = { print($0) }) throws -> [SplitResult] {
        let lead = comm.isLead
        func say(_ line: String) { if lead { speak(line) } }
        // what the lead reads of the folders decides for every rank (another process may be writing them)
        if try comm.agree([lead && isFinished()])[0] {
            say("\(config.name): finished earlier; results in \(results.url.path) (remove that folder to run again)")
            return lead ? try splits.compactMap { try results.read($0) } : []
        }
        if let r = config.run, r != config.name, !FileManager.default.fileExists(atPath: runs.path) {
            throw AutoREError("\(config.name) decodes with the adapters of run '\(r)', but \(runs.path) does not exist; train that run first")
        }
        var lock: RunLock?
        var outcome = LockOutcome()
        if lead {
            do { lock = try RunLock(runs) } catch let b as RunBusy { outcome.busy = b.holder } catch { outcome.error = "\(error)" }
        }
        defer { lock?.release() }
        outcome = try comm.broadcast(lead ? outcome : nil)
        if let holder = outcome.busy { throw RunBusy(run: runs.path, holder: holder) }
        if let e = outcome.error { throw AutoREError(lead ? e : "rank 0: \(e)") }
        // Full fine-tuning changes the base's own weights: it trains a copy, never a base shared with other
        // experiments (a sweep's).
        let full = config.fineTuning == .full
        // a rank that cannot load the model stops every rank, with its reason
        let trainingBase = try comm.together {
            let given = try base ?? LoadedModel(config: config)
            return full ? try given.copy() : given
        }
        let summaries = try TrainingRun.train(config: config, configText: configText, root: runs, base: trainingBase,
                                              dataDir: dataDir, policy: .resume, stop: stop, communicator: comm, say: say)
        try comm.together { if lead { try writeResultsHeader(summaries) } }
        // the lead has set the results folder up before any rank asks what it holds
        try comm.barrier()
        return try extractAndScore(trainingBase: trainingBase, full: full, communicator: comm, stop: stop, say: say)
    }

    /// The results folder's config, command, training summaries and loss curves; an earlier config's
    /// results under this name are removed first.
    func writeResultsHeader(_ summaries: [AdapterRunSummary]) throws {
        try results.create()
        if !madeTheResults() {
            // results of another config under this name: start the results afresh
            for f in (try? FileManager.default.contentsOfDirectory(atPath: results.url.path)) ?? [] {
                try? FileManager.default.removeItem(atPath: results.file(f))
            }
        }
        try AtomicFile.write(configText, to: results.file("config.yaml"))
        try AtomicFile.write(command + "\n", to: results.file("command.txt"))
        try ResultsJSON.write(summaries, to: results.file("training.json"))
        // A decoding variant's curves are its run's (results/<run>/ has them): not copied again.
        let borrowed = config.isDecodingVariant
        for plan in config.adapterRuns(in: runs) where !borrowed {
            for (f, copy) in [("loss.svg", "loss_\(plan.scope).svg"), ("metrics.jsonl", "train_log_\(plan.scope).jsonl")]
            where FileManager.default.fileExists(atPath: plan.directory.file(f)) {
                guard let bytes = FileManager.default.contents(atPath: plan.directory.file(f)) else {
                    throw AutoREError("\(plan.directory.file(f)): cannot read the file")
                }
                try AtomicFile.write(bytes, to: results.file(copy))
            }
        }
    }

    /// Extraction on each split (documents shared over the ranks of `comm`), scored and written by the lead.
    func extractAndScore(trainingBase: LoadedModel, full: Bool, communicator comm: Communicator, stop: StopCondition,
                         say: (String) -> Void) throws -> [SplitResult] {
        let lead = comm.isLead
        // every rank loads the adapters and the documents; one that cannot stops them all, with its reason
        let (stageNotes, adapterSteps, experiment, base, stageAdapters, format, train) = try comm.together {
            if full, FineTunedModel.directory(in: runs.path) == nil {
                throw AutoREError("\(runs.path): no fine-tuned model (best/ or final/model.safetensors); train the run first")
            }
            let run = try RunModel.open([runs.path])
            if full { say("\(config.name): decoding with \(run.described(folder: DataLocation.shown(runs.path)))") }
            var stageNotes: [String] = []
            var shipped: [TrainedAdapter] = []
            if let own = config.adapterLayout.singleStage {
                // One stage trained here: the other stages come from the shipped adapters when they exist,
                // else the bare base model answers them.
                let others = config.paradigm.stages.filter { $0 != own }
                // (those of this base model: a stage's own, or one shipped adapter answering every stage)
                let folder = RunAdapters.shipped(for: config.baseModel)
                shipped = FileManager.default.fileExists(atPath: folder)
                    ? try RunAdapters.load([folder]).filter { a in a.stage == .allStages || others.contains { .stage($0) == a.stage } } : []
                let shown = "Data/adapters/" + URL(fileURLWithPath: folder).lastPathComponent
                for s in others {
                    stageNotes.append("the \(s.rawValue) stage is answered by " + (shipped.contains { $0.stage == .stage(s) || $0.stage == .allStages }
                        ? "the shipped adapter (\(shown))" : "the base model without an adapter"))
                }
                stageNotes.forEach(say)
            }
            let adapterSteps = run.steps.merging(shipped.map { ($0.stage.rawValue, $0.step) }) { a, _ in a }
            let experiment = try Experiment(config: config, dataDir: dataDir)
            let (base, stageAdapters) = try run.load(base: .inMemory(trainingBase), paradigm: config.paradigm,
                                                     extra: shipped, requireAll: config.adapterLayout.singleStage == nil)
            let format = try PromptFormat(tokenizer: base.tokenizer, chatTemplate: config.chatTemplate)
            let (train, _) = try experiment.loader.load(.train)
            return (stageNotes, adapterSteps, experiment, base, stageAdapters, format, train)
        }
        var out: [SplitResult] = []
        for split in splits {
            let earlier = lead ? try results.read(split) : nil
            if try comm.agree([earlier != nil])[0] {
                if let earlier { out.append(earlier) }
                say("\(config.name) · \(split): scored earlier")
                continue
            }
            // documents already in the file are kept only if the same decoding wrote them
            try comm.together {
                if lead { try ExtractionRecord(extraction: config.extraction, adapterSteps: adapterSteps).claim(split: split, in: results) }
            }
            let docs = try experiment.documents(split)
            let extractor = Extractor(model: base.model, format: format, builder: experiment.builder,
                                      adapters: stageAdapters, options: ExtractionOptions(config.extraction))
            let preds = try extractor.extract(docs.documents, resumingAt: results.predictions(split),
                                              label: "extract \(config.name) \(split)", stop: stop, communicator: comm)
            guard lead else { continue }   // rank 0 holds the predictions and scores them
            var notes = [docs.note, trainNote(split)].compactMap { $0 } + stageNotes
            notes.append("model: \(URL(fileURLWithPath: base.path).lastPathComponent), "
                         + (full ? "every weight fine-tuned (Float32)" : "\(config.quantization.rawValue) base"))
            if !experiment.heldOutRelations.isEmpty {
                notes.append("held out of training: \(experiment.heldOutRelations.joined(separator: ", ")) (answers may still name them)")
            }
            var result = SplitResult(experiment: config.name, split: split, documents: docs.documents, predictions: preds,
                                     trainDocuments: train, catalogue: experiment.builder.catalogue,
                                     extraction: extractor.statistics.documents > 0 ? extractor.statistics : nil,
                                     adapterSteps: adapterSteps, notes: notes)
            if !experiment.heldOutRelations.isEmpty {
                result.unseen = UnseenRelationScores(heldOut: experiment.heldOutRelations, documents: docs.documents,
                                                     predictions: preds, catalogue: experiment.builder.catalogue)
            }
            try results.write(result)
            say(String(format: "%@ · %@: AutoRE F1 %.2f (P %.2f, R %.2f) · official F1 %.2f, Ign F1 %.2f · %d documents",
                       config.name, split, 100 * result.autore.total.f1, 100 * result.autore.total.precision,
                       100 * result.autore.total.recall, 100 * result.official.total.f1, 100 * (result.official.ignF1 ?? 0), docs.documents.count))
            out.append(result)
        }
        return out
    }

    /// The caveat a score on `split` carries when training fell back to dev documents.
    func trainNote(_ split: String) -> String? {
        guard let loader = SplitLoader(dataDir: dataDir), !loader.hasTrainFile else { return nil }
        return "train_revised.json absent: the training split is dev[0:400] and selection dev[400:500]; this run trained on \(config.data.train)"
            + (split.hasPrefix("dev") ? "; dev scores overlap the training documents" : "")
    }
}
