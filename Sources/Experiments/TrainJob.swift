// `autore train`: one adapter of an experiment trained on its stage(s) over the training documents,
// with a progress line, a JSONL metrics log, held-out loss on selection documents, and the adapter
// written to the run folder. Not the loop itself (FineTuning.Trainer) nor the prompts (DocRE).
import Autograd
import DocRE
import FineTuning
import Foundation
import LanguageModels
import ModelFormats
import NeuralNet
import RHF
import Tokenization

/// The best evaluation so far: what `best.h5` holds.
public struct BestEvaluation: Codable, Equatable {
    public var step: Int
    public var metric: SelectBy
    public var value: Double       // F1 in [0, 1], or the held-out loss
    public func beats(_ other: BestEvaluation?) -> Bool {
        guard let other else { return true }
        return metric == .heldOutLoss ? value < other.value : value > other.value
    }
}

public final class TrainJob {
    public let experiment: Experiment
    public let run: RunDirectory
    public let model: LlamaModel
    public let format: PromptFormat
    public let train: EncodedExamples
    public let heldOut: [PrefixGroup]
    /// Selection documents whose stage answers are generated and scored at each evaluation.
    public let generationDocuments: [Document]
    public let extractor: Extractor
    public let notes: [String]
    /// The best evaluation so far (restored from the checkpoint on resume).
    public var best: BestEvaluation?
    public let steps: Int
    /// What the trainer updates: the experiment's adapter, or every weight (`fine_tuning: full`).
    public let trained: TrainedWeights
    /// Whether `run` ended before `steps` because the selection metric stopped improving (`evaluation.patience`).
    public private(set) var stoppedEarly = false

    /// Loads the model, builds and tokenizes the data, adds the adapter: freshly initialised, or with the
    /// weights of `initial` (`training.init_from`).
    public init(experiment: Experiment, model: LlamaModel, tokenizer: Tokenizer, run: RunDirectory,
                initial: TrainedAdapter? = nil) throws {
        self.experiment = experiment
        self.model = model
        self.run = run
        let c = experiment.config
        format = try PromptFormat(tokenizer: tokenizer, chatTemplate: c.chatTemplate)
        let trainDocs = try experiment.documents(c.data.train)
        let selectDocs = try experiment.documents(c.data.select)
        notes = [trainDocs.note, selectDocs.note].compactMap { $0 }
        train = format.groups(try experiment.examples(trainDocs.documents), cutoff: c.training.cutoffLength,
                              maxQuestions: c.training.maxQuestionsPerGroup)
        guard !train.groups.isEmpty else {
            throw ConfigError(file: c.name, reason: "no training example fits cutoff_length \(c.training.cutoffLength)")
        }
        let held = format.groups(try experiment.examples(Array(selectDocs.documents.prefix(c.evaluation.lossGroups))),
                                 cutoff: c.training.cutoffLength, maxQuestions: c.training.maxQuestionsPerGroup)
        heldOut = Array(held.groups.prefix(c.evaluation.lossGroups))
        generationDocuments = Array(selectDocs.documents.prefix(c.evaluation.generationDocuments))
        var options = ExtractionOptions(c.extraction)
        options.sampling = .greedy
        extractor = Extractor(model: model, format: format, builder: experiment.builder, adapters: [:], options: options)
        steps = c.training.steps ?? max(1, Int((c.training.epochs! * Double(train.groups.count) / Double(c.training.accumulation)).rounded(.up)))
        switch c.fineTuning {
        case .lora:
            trained = .adapter(experiment.adapterName)
            // A 4-bit base whose Float32 copy is small (SmolLM2, Gemma 3 270M: about 0.4-1.1 GB) is decoded once
            // and kept: the same products, without decoding every tile of every product at every step.
            model.keepDequantizedCopies(within: options.dequantizedCopyLimit)
            // A fresh adapter each time (an earlier experiment's adapter of the same name is replaced), so a
            // run starts from the same seeded initialisation whatever ran before it in this process.
            try model.removeAdapter(experiment.adapterName)
            try model.addAdapter(experiment.adapterName, config: c.lora.loraConfig, seed: c.training.seed &+ 1)
            if let initial { try initial.start(model, adapter: experiment.adapterName, config: c.lora.loraConfig) }
        case .full:
            trained = .all
            do { try model.requireDenseWeights() } catch let e as WeightLoadingError {
                throw ConfigError(file: c.name, reason: "fine_tuning: full needs a Float32 base, but \(e.source) is \(e.reason)")
            }
        }
        model.checkpointBlocks = c.training.activationCheckpointing
    }

    public var trainerOptions: TrainingOptions {
        let c = experiment.config
        return TrainingOptions(steps: steps, accumulation: c.training.accumulation, learningRate: c.optimizer.learningRate,
                               schedule: c.optimizer.schedule, warmupSteps: c.optimizer.warmupSteps,
                               maxGradNorm: c.optimizer.maxGradNorm, weightDecay: c.optimizer.weightDecay, seed: c.training.seed,
                               maxBadSteps: c.training.maxBadSteps, reduction: c.training.reduction)
    }

    /// Mean answer loss over the held-out groups (no tape).
    public func heldOutLoss() throws -> Float {
        guard !heldOut.isEmpty else { return .nan }
        model.activateAdapter(activeAdapter)
        var total: Float = 0, weight = 0
        try withNoGrad {
            for g in heldOut {
                total += try model.answerLoss(g).item * Float(g.answerTokenCount)
                weight += g.answerTokenCount
            }
        }
        return total / Float(max(1, weight))
    }

    /// Stage F1 by generation (greedy) on the generation documents, every stage this adapter answers
    /// given gold inputs, micro-averaged; nil without generation documents.
    public func stageF1() throws -> PRF? {
        guard !generationDocuments.isEmpty else { return nil }
        var total = PRF()
        for stage in experiment.config.paradigm.stages where experiment.stages.contains(stage) {
            extractor.adapters = activeAdapter.map { [stage: $0] } ?? [:]
            total = total + (try extractor.stageScore(generationDocuments, stage: stage))
        }
        return total
    }

    /// Held-out loss and stage F1 now, logged; returns the evaluation the selection metric sees (nil when
    /// there is nothing to select on: no selection documents).
    public func evaluate(step: Int, log: MetricsLog) throws -> BestEvaluation? {
        let start = Date()
        let loss = try heldOutLoss()
        let prf = try stageF1()
        try log.append(MetricsRecord(kind: .eval, step: step, loss: loss, seconds: Date().timeIntervalSince(start),
                                     f1: prf?.f1, precision: prf?.precision, recall: prf?.recall))
        var line = String(format: "\nevaluation at step %d: held-out loss %.4f", step, loss)
        if let prf { line += String(format: ", stage F1 %.2f (P %.2f, R %.2f) on %d documents", 100 * prf.f1, 100 * prf.precision, 100 * prf.recall, generationDocuments.count) }
        FileHandle.standardError.write(Data((line + "\n").utf8))
        if experiment.config.evaluation.selectBy == .stageF1, let prf { return BestEvaluation(step: step, metric: .stageF1, value: prf.f1) }
        return loss.isFinite ? BestEvaluation(step: step, metric: .heldOutLoss, value: Double(loss)) : nil
    }

    /// Whether early stopping ends the run now: `evaluation.patience` evaluations logged after the best one
    /// (read from the log, so a resumed run counts the evaluations of earlier sessions).
    public func patienceExhausted(log: MetricsLog) throws -> Bool {
        guard let patience = experiment.config.evaluation.patience, let best else { return false }
        let after = try MetricsLog.read(MetricsRecord.self, from: log.path).filter { $0.kind == .eval && $0.step > best.step }
        return Set(after.map(\.step)).count >= patience
    }

    /// The metrics line of a skipped step.
    func skipped(_ m: StepMetrics) -> MetricsRecord {
        MetricsRecord(kind: .skipped, step: m.step, epoch: m.epoch, loss: m.loss, learningRate: m.learningRate, gradNorm: m.gradNorm,
                      groups: m.groups)
    }

    /// The adapter that answers while evaluating (nil: every weight is trained, the model answers as it is).
    var activeAdapter: String? {
        if case .adapter(let name) = trained { return name }
        return nil
    }

    /// The adapter as it is now, ready to save.
    public func currentAdapter(configText: String, step: Int) -> TrainedAdapter {
        TrainedAdapter(model: model, adapter: experiment.adapterName, stage: experiment.adapterScope,
                       lora: experiment.config.lora.loraConfig, config: configText, step: step)
    }

    /// What a run keeps, by its role: the best evaluation or the last step.
    public enum Kept { case best, final }

    /// Saves what is trained as it is now: the adapter (`best.h5`, `adapter.h5`), or with `fine_tuning: full`
    /// every weight (`best/model.safetensors`, `final/model.safetensors`).
    public func keep(_ kept: Kept, configText: String, step: Int) throws {
        switch trained {
        case .adapter:
            try currentAdapter(configText: configText, step: step).save(to: run.file(kept == .best ? "best.h5" : "adapter.h5"))
        case .all:
            try FineTunedModel.save(model, to: run.file(kept == .best ? "best" : "final"), step: step, config: configText)
        }
    }

    /// The run folder's checkpoint, `checkpoint.h5`: everything a resumed run needs to go on as if it had
    /// never stopped. The trainer's state (trained weights, AdamW moments, data position, generators;
    /// `Trainer.checkpoint`), the config text it was trained under, and this job's best evaluation so far.
    public var checkpointPath: String { run.file("checkpoint.h5") }

    /// Writes the run's checkpoint (atomically: an interrupted write leaves the earlier one).
    public func saveCheckpoint(_ trainer: Trainer, configText: String) throws {
        var c = trainer.checkpoint(config: configText)
        if let best {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]   // the same bytes in every process
            c.strings["best"] = String(decoding: try enc.encode(best), as: UTF8.self)
        }
        try c.save(to: checkpointPath)
    }

    /// Puts `trainer` and this job (its best evaluation) where the run's checkpoint says; false when the run
    /// has none. A checkpoint written under a config that trains differently is refused, naming the file.
    public func resume(_ trainer: Trainer, configText: String) throws -> Bool {
        guard FileManager.default.fileExists(atPath: checkpointPath) else { return false }
        let checkpoint = try Checkpoint(contentsOf: checkpointPath)
        guard ExperimentConfig.trainsAlike(checkpoint.strings["config"] ?? "", configText) else {
            throw AutoREError("\(checkpointPath) was written with another config; resume with the same file, or train afresh")
        }
        try trainer.restore(checkpoint, source: checkpointPath)
        if let b = checkpoint.strings["best"] { best = try? JSONDecoder().decode(BestEvaluation.self, from: Data(b.utf8)) }
        return true
    }

    /// Runs the trainer to the end, logging every step and evaluating every `evaluation.every` steps;
    /// keeps the best evaluated adapter (or model) and the last (`keep`), and redraws `loss.svg`.
    /// The run's checkpoint is written every `training.checkpoint_every` steps and at the end. When `stop`
    /// says so after a step, the run checkpoints and throws `RunStopped` (resume later from that checkpoint).
    /// A step skipped for a non-finite loss or gradient norm is logged (`skipped`) and not checkpointed;
    /// `training.max_bad_steps` of them in a row stop the run with an error naming the last good checkpoint,
    /// which stays as it was. A loss spike (`KeyedLossSpikeDetector`: among steps of the same stage) is logged with
    /// its step and batch; every step's batch is logged, so that a resumed run judges spikes as an uninterrupted one.
    /// Under data parallelism every rank runs this loop (each step is collective); only the lead rank
    /// logs, evaluates, checkpoints and saves, and its decisions (stop now, stop early) hold for all ranks.
    public func run(trainer: Trainer, log: MetricsLog, configText: String, stop: StopCondition = .never) throws {
        let c = experiment.config
        let comm = trainer.communicator, lead = comm.isLead
        var progress = ProgressLine(label: "train \(c.name)", total: steps, alreadyDone: trainer.state.step)
        var recent: [Float] = []
        // The spike window continues from the logged steps (a resumed run flags what an uninterrupted one would).
        // Each stage has its own window; steps logged without their batch (before batches were logged) are left out.
        var spikes = KeyedLossSpikeDetector()
        for r in try MetricsLog.read(MetricsRecord.self, from: log.path) where r.kind == .train {
            if let g = r.groups { _ = spikes.observe(r.loss, key: train.label(of: g)) }
        }
        var lastCheckpoint = trainer.state.step
        func say(_ line: String) { if lead { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
        func checkpoint() throws { if lead { try saveCheckpoint(trainer, configText: configText) }; lastCheckpoint = trainer.state.step }
        // An adapter that starts from another run's is a candidate itself: evaluated before the first step,
        // so that the kept adapter and early stopping can prefer it to anything this run makes.
        if lead && trainer.state.step == 0 && c.training.initFrom != nil && best == nil,
           let e = try evaluate(step: 0, log: log) {
            best = e
            try keep(.best, configText: configText, step: 0)
        }
        stoppedEarly = try comm.agree([lead && patienceExhausted(log: log)])[0]
        while trainer.state.step < steps && !stoppedEarly {
            let m: StepMetrics
            do { m = try trainer.step() } catch let fault as NonFiniteSteps {
                try log.append(skipped(fault.last))
                if lead { progress.update(done: trainer.state.step, final: true) }
                let kept = FileManager.default.fileExists(atPath: checkpointPath)
                    ? "the last good checkpoint, \(checkpointPath) (step \(lastCheckpoint)), is kept as it was"
                    : "no checkpoint had been written"
                throw AutoREError("training \(c.name) · \(experiment.adapterName) stopped: \(fault) (training.max_bad_steps = \(c.training.maxBadSteps)); \(kept)")
            }
            if m.skipped {
                try log.append(skipped(m))
                say("\nstep \(m.step) skipped: loss \(m.loss), gradient norm \(m.gradNorm) (prefix groups \(m.groups.map(String.init).joined(separator: ", ")))")
                continue
            }
            let kind = train.label(of: m.groups)
            if let median = spikes.observe(m.loss, key: kind) {
                try log.append(MetricsRecord(kind: .spike, step: m.step, epoch: m.epoch, loss: m.loss, groups: m.groups, median: median))
                let of = kind.isEmpty ? "recent steps" : "recent \(kind) steps"
                say(String(format: "\nloss spike at step %d: %.4f > %.0f × the median %.4f of the \(of)", m.step, m.loss, spikes.factor, median)
                    + " (prefix groups \(m.groups.map(String.init).joined(separator: ", ")))")
            }
            recent.append(m.loss)
            if recent.count > 20 { recent.removeFirst() }
            let rate = Double(m.tokens) / m.seconds
            try log.append(MetricsRecord(kind: .train, step: m.step, epoch: m.epoch, loss: m.loss, learningRate: m.learningRate,
                                         gradNorm: m.gradNorm, tokensPerSecond: rate, seconds: m.seconds, groups: m.groups))
            if lead {
                progress.update(done: m.step, fields: [
                    "loss": String(format: "%.4f", recent.reduce(0, +) / Float(recent.count)),
                    "lr": String(format: "%.2e", m.learningRate), "tok/s": String(format: "%.0f", rate),
                ])
            }
            // [stop early, stop now]: the lead's decisions
            var decide = [false, false]
            if lead && (m.step % c.evaluation.every == 0 || m.step == steps) {
                if let e = try evaluate(step: m.step, log: log), e.beats(best) {
                    best = e
                    try keep(.best, configText: configText, step: m.step)
                }
                try? LossPlot.write(metrics: log.path, to: run.file("loss.svg"), title: "\(c.name) · \(experiment.adapterName)")
                decide[0] = try patienceExhausted(log: log)
            }
            let due = m.step % c.training.checkpointEvery == 0 || m.step == steps
            if lead { decide[1] = stop.step.map { m.step >= $0 && m.step < steps } ?? false }
            if lead && m.step < steps && !decide[0] && !decide[1] { decide[1] = stop.now() }
            if comm.size > 1 { decide = try comm.agree(decide) }
            if decide[0] {
                stoppedEarly = true
                if let best { say("\nearly stop at step \(m.step): \(c.evaluation.patience!) evaluations without beating step \(best.step) (\(best.metric.rawValue) \(best.value))") }
                try checkpoint()
                break
            }
            if due { try checkpoint() }
            if decide[1] {
                if !due { try checkpoint() }
                if lead { progress.update(done: trainer.state.step, final: true) }
                throw RunStopped(what: "training \(c.name) · \(experiment.adapterName)", step: m.step, of: steps)
            }
        }
        if lead {
            progress.update(done: trainer.state.step, final: true)
            try keep(.final, configText: configText, step: trainer.state.step)
        }
    }
}
