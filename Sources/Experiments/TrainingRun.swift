// Training every adapter an experiment names into its run folder, resumable: one adapter run per stage
// (`stage: each`) or one for the whole paradigm. A finished adapter run is skipped, an interrupted one
// continues from its checkpoint. Not the step loop (TrainJob, FineTuning.Trainer).
import Distributed
import DocRE
import FineTuning
import Foundation
import LanguageModels
import ModelFormats
import RHF
import Support

/// One adapter to train: what it answers, its config (one adapter: shared or single) and its folder.
public struct AdapterRunPlan {
    public var scope: AdapterScope
    public var config: ExperimentConfig
    public var directory: RunDirectory
}

extension ExperimentConfig {
    /// The adapter runs of this experiment under `root`: `root/<stage>/` for each stage with `stage: each`,
    /// else `root` itself.
    public func adapterRuns(in root: RunDirectory) -> [AdapterRunPlan] {
        switch adapterLayout {
        case .shared: return [AdapterRunPlan(scope: .allStages, config: self, directory: root)]
        case .single(let s): return [AdapterRunPlan(scope: .stage(s), config: self, directory: root)]
        case .perStage:
            return paradigm.stages.map { s in
                var c = self
                c.adapterLayout = .single(s)
                return AdapterRunPlan(scope: .stage(s), config: c, directory: RunDirectory(root.url.appendingPathComponent(s.rawValue)))
            }
        }
    }
}

/// What a finished adapter run did (`summary.json`, which also marks the run as finished).
public struct AdapterRunSummary: Codable {
    public var stage: AdapterScope
    public var steps: Int
    public var examples: Int
    public var droppedOverCutoff: Int
    public var prefixGroups: Int
    public var trainTokensPerEpoch: Int
    public var best: BestEvaluation?
    public var finalHeldOutLoss: Float?
    /// Seconds of the training steps and evaluations over every session of the run (MetricsRecord.trainingSeconds).
    public var seconds: Double
    public var notes: [String]
    public var config: String
    /// The steps the schedule was laid out for; fewer were taken when early stopping ended the run.
    public var plannedSteps: Int?
    public var stoppedEarly: Bool?
    /// The adapter file training started from (`training.init_from`).
    public var initFrom: String?
}

public enum ResumePolicy {
    /// Start every adapter run afresh (earlier files of the run are removed).
    case fresh
    /// Skip finished adapter runs; continue interrupted ones from their checkpoint; start the others.
    case resume
}

public enum TrainingRun {
    /// The finished adapter that `training.init_from` names for `stage`: `reference` is a folder path, or a
    /// run name looked up beside `root` (the runs folder), then in Experiments/runs. A run trained with
    /// `stage: each` gives the adapter of the same stage; a one-adapter run (`all`) gives its only adapter.
    static func initialAdapter(_ reference: String, stage: AdapterScope, besideRun root: RunDirectory) throws -> TrainedAdapter {
        let fm = FileManager.default
        let candidates = reference.contains("/") ? [reference]
            : [root.url.deletingLastPathComponent().appendingPathComponent(reference).path, RunDirectory.forExperiment(reference).path]
        guard let dir = candidates.first(where: { fm.fileExists(atPath: $0) }) else {
            throw AutoREError("training.init_from: \(reference): no run folder (looked in \(candidates.joined(separator: ", "))); train that run first")
        }
        let adapters = try RunAdapters.load([dir])
        if let a = adapters.first(where: { $0.stage == stage }) { return a }
        if adapters.count == 1 { return adapters[0] }
        throw AutoREError("training.init_from: \(dir) has adapters for \(adapters.map(\.stage.rawValue).sorted().joined(separator: ", ")), none for the stage '\(stage)'")
    }

    /// Trains the adapters of `config` (its YAML text is `configText`) into `root` on `base`.
    /// Returns the summaries of all adapter runs (finished earlier or now).
    @discardableResult
    public static func train(config: ExperimentConfig, configText: String, root: RunDirectory, base: LoadedModel,
                             dataDir: String? = nil, policy: ResumePolicy, stepsOverride: Int? = nil,
                             stop: StopCondition = .never, communicator: Communicator = SingleProcess(),
                             say: (String) -> Void = { print($0) }) throws -> [AdapterRunSummary] {
        try train(config: config, configText: configText, root: root, base: base, dataDir: dataDir, policy: policy,
                  stepsOverride: stepsOverride, stop: stop, communicator: communicator, say: say, prepare: { _ in })
    }

    /// As above; `prepare` sees each trainer before it runs (tests set fault hooks there).
    static func train(config: ExperimentConfig, configText: String, root: RunDirectory, base: LoadedModel,
                      dataDir: String? = nil, policy: ResumePolicy, stepsOverride: Int? = nil,
                      stop: StopCondition = .never, communicator: Communicator = SingleProcess(),
                      say speak: (String) -> Void = { print($0) },
                      prepare: (Trainer) -> Void) throws -> [AdapterRunSummary] {
        // Under data parallelism (`mpirun`) every rank trains; the lead alone writes and speaks.
        let lead = communicator.isLead
        func say(_ line: String) { if lead { speak(line) } }
        var summaries: [AdapterRunSummary] = []
        // A decoding variant (`run:` naming another experiment's run) only reads that run's finished adapters.
        let borrowed = config.isDecodingVariant
        if borrowed && policy == .fresh {
            throw AutoREError("\(config.name) decodes with the adapters of run '\(config.run!)' (run:); it does not train them afresh")
        }
        // the lead's files: a failure there stops every rank (none waits for a lead that has given up)
        try communicator.together {
            if !borrowed && lead {
                try root.create()
                try AtomicFile.write(configText, to: root.file("config.yaml"))
            }
        }
        for plan in config.adapterRuns(in: root) {
            var cfg = plan.config
            if let stepsOverride { cfg.training.steps = stepsOverride; cfg.training.epochs = nil }
            let run = plan.directory
            let summaryPath = run.file("summary.json")
            if borrowed && !FileManager.default.fileExists(atPath: summaryPath) {
                throw AutoREError("\(summaryPath): run '\(config.run!)' has no finished \(plan.scope) adapter; train it with its own config first (\(cfg.name) only decodes with it)")
            }
            try communicator.together { if !borrowed && lead { try run.create() } }
            if policy == .fresh && lead {
                for f in ["metrics.jsonl", "checkpoint.h5", "summary.json", "best.h5", "adapter.h5", "loss.svg", "best", "final", RunAdapters.keptFolder] {
                    try? FileManager.default.removeItem(atPath: run.file(f))
                }
            }
            if policy == .resume, let data = FileManager.default.contents(atPath: summaryPath),
               let s = try? ResultsJSON.decode(AdapterRunSummary.self, from: data) {
                guard ExperimentConfig.trainsAlike(s.config, configText) else {
                    throw AutoREError("\(summaryPath): this adapter was trained with another config (a setting that shapes training differs); train afresh (without --resume) or use another run folder")
                }
                say("\(cfg.name) · \(plan.scope): finished earlier (\(s.steps) steps), skipped")
                summaries.append(s)
                continue
            }
            if borrowed {
                throw AutoREError("\(summaryPath): this adapter is not readable as a finished run; train run '\(config.run!)' with its own config first")
            }
            // the lead has set the folder up (a fresh run's old files removed) before any rank reads it
            try communicator.together { if lead { try AtomicFile.write(configText, to: run.file("config.yaml")) } }
            if try communicator.agree([lead && stop.now()])[0] { throw RunStopped(what: "training \(cfg.name) · \(plan.scope)", step: 0, of: 0) }
            // every rank reads the data and the checkpoint; one that cannot stops them all, with its reason
            let (job, trainer, initial, resumed) = try communicator.together {
                let experiment = try Experiment(config: cfg, dataDir: dataDir)
                let initial = try cfg.training.initFrom.map { try initialAdapter($0, stage: plan.scope, besideRun: root) }
                let job = try TrainJob(experiment: experiment, model: base.model, tokenizer: base.tokenizer, run: run, initial: initial)
                let trainer = try Trainer(model: job.model, weights: job.trained, groups: job.train.groups, options: job.trainerOptions)
                trainer.communicator = communicator
                prepare(trainer)
                let resumed = try policy == .resume && job.resume(trainer, configText: configText)
                return (job, trainer, initial, resumed)
            }
            if let initial { say("\(cfg.name) · \(plan.scope): starts from \(initial.source) (step \(initial.step))") }
            for n in job.notes { say("note: \(n)") }
            say("\(cfg.name) · \(plan.scope): \(job.train.groups.count) prefix groups from \(job.train.examples) examples (\(job.train.dropped) over the cutoff), \(job.train.tokens) tokens; \(job.steps) steps")
            if communicator.size > 1 {
                say("data parallel: \(communicator.size) ranks share each step's \(cfg.training.accumulation) prefix groups (training.accumulation), balanced by tokens")
                if cfg.training.accumulation < communicator.size {
                    // a rank without a group still joins every step's sum, waiting (and polling) in it
                    say("note: training.accumulation \(cfg.training.accumulation) gives \(communicator.size - cfg.training.accumulation) of the \(communicator.size) ranks no group at each step: they only wait; set it to a multiple of the ranks, or train in one process")
                }
            }
            if resumed { say("resumed at step \(trainer.state.step) of \(job.steps)") }
            // What the interrupted process logged after its last checkpoint is done again now.
            if policy == .resume && lead { try MetricsLog.keepRecords(in: run.file("metrics.jsonl"), throughStep: trainer.state.step) }
            // the other ranks log to a scratch file of their own (nothing of theirs is kept)
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("autore-rank\(communicator.rank)-\(getpid()).jsonl").path
            if !lead { try? FileManager.default.removeItem(atPath: scratch) }
            defer { if !lead { try? FileManager.default.removeItem(atPath: scratch) } }
            let log = try MetricsLog(path: lead ? run.file("metrics.jsonl") : scratch)
            try job.run(trainer: trainer, log: log, configText: configText, stop: stop)
            let records = try MetricsLog.read(MetricsRecord.self, from: log.path)
            let evals = records.filter { $0.kind == .eval }
            let summary = AdapterRunSummary(
                stage: plan.scope, steps: trainer.state.step, examples: job.train.examples, droppedOverCutoff: job.train.dropped,
                prefixGroups: job.train.groups.count, trainTokensPerEpoch: job.train.tokens, best: job.best,
                finalHeldOutLoss: evals.last(where: { $0.loss.isFinite })?.loss, seconds: MetricsRecord.trainingSeconds(records), notes: job.notes, config: configText,
                plannedSteps: job.steps, stoppedEarly: job.stoppedEarly, initFrom: initial?.source)
            if lead {
                try ResultsJSON.write(summary, to: summaryPath)
                // finished: the kept adapter stays, as a PEFT folder; the HDF5 files of the run go (after the
                // summary, so that an interrupted run never loses its best adapter)
                switch cfg.fineTuning {
                case .lora: try RunAdapters.keepAsPEFT(in: run.path, baseModel: ModelLocation.huggingFaceName(cfg.baseModel))
                // every weight and its AdamW moments (three times the model) are not kept once final/ holds the weights
                case .full: try? FileManager.default.removeItem(atPath: job.checkpointPath)
                }
            }
            try communicator.barrier()
            say("\(cfg.name) · \(plan.scope): done; adapter in \(run.path)")
            summaries.append(summary)
        }
        return summaries
    }
}
