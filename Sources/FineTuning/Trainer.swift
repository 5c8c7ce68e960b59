// The supervised fine-tuning loop of one LoRA adapter over prefix groups: seeded data order by epoch,
// gradient accumulation, clipping, AdamW with a warm-up schedule, and a state small enough to checkpoint
// and resume exactly. Not data preparation (DocRE builds the examples) and not file formats.
import Autograd
import Foundation
import LanguageModels
import NeuralNet

/// How an adapter is trained.
public struct TrainingOptions: Codable, Sendable, Equatable {
    /// Optimizer steps in all.
    public var steps: Int
    /// Prefix groups (documents' question sets) accumulated into one optimizer step.
    public var accumulation: Int = 1
    public var learningRate: Float = 5e-5
    public var schedule: LearningRateSchedule.Kind = .cosine
    public var warmupSteps: Int = 0
    public var maxGradNorm: Float = 1
    public var weightDecay: Float = 0
    public var seed: UInt64 = 0

    public init(steps: Int, accumulation: Int = 1, learningRate: Float = 5e-5, schedule: LearningRateSchedule.Kind = .cosine,
                warmupSteps: Int = 0, maxGradNorm: Float = 1, weightDecay: Float = 0, seed: UInt64 = 0) {
        self.steps = steps; self.accumulation = accumulation; self.learningRate = learningRate; self.schedule = schedule
        self.warmupSteps = warmupSteps; self.maxGradNorm = maxGradNorm; self.weightDecay = weightDecay; self.seed = seed
    }
}

/// Where a run is: everything besides the adapter and optimizer moments that an exact resume needs.
public struct TrainingState: Codable, Sendable, Equatable {
    /// Optimizer steps taken.
    public var step = 0
    /// Epoch of the data order, and the position within it of the next group.
    public var epoch = 0
    public var cursor = 0
    /// States of the adapter's dropout generators, in module order.
    public var dropoutStates: [UInt64] = []
    public init() {}
}

/// What one optimizer step did.
public struct StepMetrics: Codable, Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Float
    public var learningRate: Float
    public var gradNorm: Float
    public var tokens: Int
    public var seconds: Double
}

/// Trains adapter `adapter` of `model` on `groups`.
///
///     let trainer = try Trainer(model: m, adapter: "relations", groups: groups, options: TrainingOptions(steps: 400))
///     while trainer.state.step < 400 { let s = try trainer.step(); print(s.loss) }
public final class Trainer {
    public let model: LlamaModel
    public let adapter: String
    public let groups: [PrefixGroup]
    public let options: TrainingOptions
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public var state = TrainingState()
    public let parameters: [(String, Parameter)]
    let dropouts: [Dropout]

    public init(model: LlamaModel, adapter: String, groups: [PrefixGroup], options: TrainingOptions) throws {
        guard !groups.isEmpty else { throw TrainingDataError(reason: "Trainer: no training examples") }
        guard options.steps > 0, options.accumulation > 0 else {
            throw TrainingDataError(reason: "Trainer: steps (\(options.steps)) and accumulation (\(options.accumulation)) must be positive")
        }
        self.model = model; self.adapter = adapter; self.groups = groups; self.options = options
        parameters = model.adapterParameters(adapter)
        guard !parameters.isEmpty else { throw TrainingDataError(reason: "Trainer: the model has no adapter named '\(adapter)'") }
        optimizer = AdamW(config: AdamWConfig(weightDecay: options.weightDecay))
        schedule = LearningRateSchedule(kind: options.schedule, peak: options.learningRate,
                                        warmupSteps: options.warmupSteps, totalSteps: options.steps)
        dropouts = model.namedModules().filter { $0.0.contains(".lora.\(adapter)") }.compactMap { $0.1 as? Dropout }
        state.dropoutStates = dropouts.map(\.generator.state)
    }

    /// The order of the groups in `epoch`: a seeded shuffle that depends only on (seed, epoch), so that a
    /// resumed run needs no more than the epoch and the cursor.
    public func order(epoch: Int) -> [Int] {
        var g = SplitMix64(seed: options.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
        return Array(groups.indices).shuffled(using: &g)
    }

    /// Puts the dropout generators where `state` says (after a resume).
    public func restoreGenerators() {
        for (d, s) in zip(dropouts, state.dropoutStates) { d.generator.state = s }
    }

    /// One optimizer step over `accumulation` groups.
    public func step() throws -> StepMetrics {
        let start = Date()
        model.activateAdapter(adapter)
        model.setTraining(true)
        defer { model.setTraining(false) }
        model.zeroGrad()
        var order = order(epoch: state.epoch)
        var lossSum: Float = 0, tokens = 0
        for _ in 0..<options.accumulation {
            if state.cursor >= order.count { state.epoch += 1; state.cursor = 0; order = self.order(epoch: state.epoch) }
            let group = groups[order[state.cursor]]
            state.cursor += 1
            let loss = try model.answerLoss(group)
            try (loss * (1 / Float(options.accumulation))).backward()
            lossSum += loss.item
            tokens += group.tokenCount
        }
        let norm = clipGradientNorm(parameters.map(\.1), maxNorm: options.maxGradNorm)
        let lr = schedule.learningRate(at: state.step)
        try optimizer.step(parameters, lr: lr)
        model.zeroGrad()
        state.step += 1
        state.dropoutStates = dropouts.map(\.generator.state)
        return StepMetrics(step: state.step, epoch: state.epoch, loss: lossSum / Float(options.accumulation),
                           learningRate: lr, gradNorm: norm, tokens: tokens, seconds: Date().timeIntervalSince(start))
    }
}
