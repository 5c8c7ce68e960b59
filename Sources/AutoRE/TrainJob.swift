// `autore train`: one adapter of an experiment trained on its stage(s) over the training documents,
// with a progress line, a JSONL metrics log, held-out loss on selection documents, and the adapter
// written to the run folder. Not the loop itself (FineTuning.Trainer) nor the prompts (DocRE).
import Autograd
import DocRE
import FineTuning
import Foundation
import LanguageModels
import NeuralNet
import Tokenization

/// One line of metrics.jsonl.
public struct MetricsRecord: Codable {
    public var kind: String            // "train" or "eval"
    public var step: Int
    public var epoch: Int?
    public var loss: Float
    public var learningRate: Float?
    public var gradNorm: Float?
    public var tokensPerSecond: Double?
    public var seconds: Double?
}

public final class TrainJob {
    public let experiment: Experiment
    public let run: RunDirectory
    public let model: LlamaModel
    public let format: PromptFormat
    public let train: EncodedExamples
    public let heldOut: [PrefixGroup]
    public let notes: [String]
    public let steps: Int

    /// Loads the model, builds and tokenizes the data, adds the adapter.
    public init(experiment: Experiment, model: LlamaModel, tokenizer: Tokenizer, run: RunDirectory) throws {
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
        steps = c.training.steps ?? max(1, Int((c.training.epochs! * Double(train.groups.count) / Double(c.training.accumulation)).rounded(.up)))
        if model.adapterParameters(experiment.adapterName).isEmpty {
            try model.addAdapter(experiment.adapterName, config: c.lora.loraConfig, seed: c.training.seed &+ 1)
        }
        model.checkpointBlocks = c.training.activationCheckpointing
    }

    public var trainerOptions: TrainingOptions {
        let c = experiment.config
        return TrainingOptions(steps: steps, accumulation: c.training.accumulation, learningRate: c.optimizer.learningRate,
                               schedule: c.optimizer.schedule, warmupSteps: c.optimizer.warmupSteps,
                               maxGradNorm: c.optimizer.maxGradNorm, weightDecay: c.optimizer.weightDecay, seed: c.training.seed)
    }

    /// Mean answer loss over the held-out groups (no tape).
    public func heldOutLoss() throws -> Float {
        guard !heldOut.isEmpty else { return .nan }
        model.activateAdapter(experiment.adapterName)
        var total: Float = 0, weight = 0
        try withNoGrad {
            for g in heldOut {
                total += try model.answerLoss(g).item * Float(g.answerTokenCount)
                weight += g.answerTokenCount
            }
        }
        return total / Float(max(1, weight))
    }

    /// Runs the trainer to the end, logging every step and evaluating every `evaluation.every` steps.
    /// `onCheckpoint` is called every `training.checkpoint_every` steps and at the end.
    public func run(trainer: Trainer, log: MetricsLog, onCheckpoint: (Trainer) throws -> Void) throws {
        let c = experiment.config
        var progress = ProgressLine(label: "train \(c.name)", total: steps, alreadyDone: trainer.state.step)
        var recent: [Float] = []
        while trainer.state.step < steps {
            let m = try trainer.step()
            recent.append(m.loss)
            if recent.count > 20 { recent.removeFirst() }
            let rate = Double(m.tokens) / m.seconds
            try log.append(MetricsRecord(kind: "train", step: m.step, epoch: m.epoch, loss: m.loss, learningRate: m.learningRate,
                                         gradNorm: m.gradNorm, tokensPerSecond: rate, seconds: m.seconds))
            progress.update(done: m.step, fields: [
                "loss": String(format: "%.4f", recent.reduce(0, +) / Float(recent.count)),
                "lr": String(format: "%.2e", m.learningRate), "tok/s": String(format: "%.0f", rate),
            ])
            if m.step % c.evaluation.every == 0 || m.step == steps {
                let start = Date()
                let loss = try heldOutLoss()
                try log.append(MetricsRecord(kind: "eval", step: m.step, loss: loss, seconds: Date().timeIntervalSince(start)))
                FileHandle.standardError.write(Data(String(format: "\nheld-out loss at step %d: %.4f\n", m.step, loss).utf8))
            }
            if m.step % c.training.checkpointEvery == 0 || m.step == steps { try onCheckpoint(trainer) }
        }
        progress.update(done: trainer.state.step, final: true)
    }
}
