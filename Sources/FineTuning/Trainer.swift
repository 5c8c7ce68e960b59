// The supervised fine-tuning loop of one LoRA adapter over prefix groups: seeded data order by epoch,
// gradient accumulation, clipping, AdamW with a warm-up schedule, steps with a non-finite loss or gradient
// skipped (and a stop after too many in a row), loss spikes flagged, and a state small enough to checkpoint
// and resume exactly. Not data preparation (DocRE builds the examples) and not file formats.
import Autograd
import Distributed
import Foundation
import LanguageModels
import NeuralNet
import Support

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
    /// Steps in a row skipped for a non-finite loss or gradient norm after which training stops (`NonFiniteSteps`).
    public var maxBadSteps = 5
    /// How a step's groups' gradients are summed, within a process and over the ranks.
    public var reduction: GradientReduction = .sum

    public init(steps: Int, accumulation: Int = 1, learningRate: Float = 5e-5, schedule: LearningRateSchedule.Kind = .cosine,
                warmupSteps: Int = 0, maxGradNorm: Float = 1, weightDecay: Float = 0, seed: UInt64 = 0, maxBadSteps: Int = 5,
                reduction: GradientReduction = .sum) {
        self.steps = steps; self.accumulation = accumulation; self.learningRate = learningRate; self.schedule = schedule
        self.warmupSteps = warmupSteps; self.maxGradNorm = maxGradNorm; self.weightDecay = weightDecay; self.seed = seed
        self.maxBadSteps = maxBadSteps; self.reduction = reduction
    }
}

/// How the gradients of a step's prefix groups are summed (`training.reduction`).
public enum GradientReduction: String, Codable, Sendable, CaseIterable {
    /// Each process adds its groups' gradients as the backward passes produce them, then one allreduce sums
    /// the ranks' (one buffer of the trained weights' size per rank and step). N ranks equal one process up
    /// to the order of float additions (within 1e-5 relative after 10 steps in the tests).
    case sum
    /// Each group's gradient is computed alone, and every rank adds all of them in batch order (an
    /// allgather of each group's gradient and loss): the same bits for any number of ranks, for
    /// `accumulation` buffers of traffic per step instead of one.
    case ordered
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
    /// Steps skipped for a non-finite loss or gradient norm: in all, and since the last step taken.
    public var skipped = 0
    public var badInARow = 0
    public init() {}
}

/// What one optimizer step did. A skipped step (non-finite loss or gradient norm) changed nothing but the
/// data position; its `step` is the number the step would have had.
public struct StepMetrics: Codable, Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Float
    public var learningRate: Float
    public var gradNorm: Float
    public var tokens: Int
    public var seconds: Double
    /// Indices (into `Trainer.groups`) of the prefix groups of this step: its batch.
    public var groups: [Int] = []
    public var skipped = false
}

/// Training stopped: `count` steps in a row had a non-finite loss or gradient norm (`last` is the last of
/// them). The adapter and optimizer are as the last good step left them.
public struct NonFiniteSteps: Error, CustomStringConvertible {
    public var count: Int
    public var last: StepMetrics
    public var description: String {
        "\(count) steps in a row had a non-finite loss or gradient norm and were skipped (the last: loss \(last.loss), " +
        "gradient norm \(last.gradNorm), prefix groups \(last.groups.map(String.init).joined(separator: ", "))); training stopped after step \(last.step - 1)"
    }
}

/// A fault a test makes in a step (`Trainer.injectFault`): the loss reported, or one gradient value, is replaced.
enum InjectedFault { case loss(Float), gradient(Float) }

/// What a trainer updates.
public enum TrainedWeights: Sendable, Equatable, CustomStringConvertible {
    /// One named LoRA adapter; the base stays frozen (LoRA, QLoRA).
    case adapter(String)
    /// Every weight of the model (full fine-tuning: embeddings, norms, projections, head). The model must
    /// hold its projections as dense Float32 weights (`WeightQuantization.none`).
    case all

    public var description: String {
        switch self {
        case .adapter(let name): "adapter '\(name)'"
        case .all: "every weight (full fine-tuning)"
        }
    }
}

/// Trains adapter `adapter` of `model` on `groups` (or, with `weights: .all`, every weight of the model).
///
///     let trainer = try Trainer(model: m, adapter: "relations", groups: groups, options: TrainingOptions(steps: 400))
///     while trainer.state.step < 400 { let s = try trainer.step(); print(s.loss) }
public final class Trainer {
    public let model: LlamaModel
    public let weights: TrainedWeights
    /// The adapter trained ("" when every weight is).
    public var adapter: String { if case .adapter(let name) = weights { name } else { "" } }
    public let groups: [PrefixGroup]
    public let options: TrainingOptions
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public var state = TrainingState()
    public let parameters: [(String, Parameter)]
    let dropouts: [Dropout]
    /// The processes that share each step's batch (data parallel): each takes a token-balanced part of
    /// the batch's groups and the gradients are summed over all. Alone: `SingleProcess`.
    public var communicator: Communicator = SingleProcess()
    /// The dropout generators' states when the adapter was made: each group's masks are drawn from these
    /// and the group's place in the data order, whichever rank computes it.
    let dropoutSeeds: [UInt64]
    /// Test-only: called with the number of the attempt (1, 2, … steps taken or skipped by this trainer);
    /// a fault it returns is made in that step after the backward pass.
    var injectFault: ((Int) -> InjectedFault?)?
    var attempts = 0

    public convenience init(model: LlamaModel, adapter: String, groups: [PrefixGroup], options: TrainingOptions) throws {
        try self.init(model: model, weights: .adapter(adapter), groups: groups, options: options)
    }

    /// With `.all`, every parameter of `model` is made trainable (its LoRA adapters, if any, are switched off
    /// during the steps); a model with a frozen NF4 or GGML-block projection is refused.
    public init(model: LlamaModel, weights: TrainedWeights, groups: [PrefixGroup], options: TrainingOptions) throws {
        guard !groups.isEmpty else { throw TrainingDataError(reason: "Trainer: no training examples") }
        guard options.steps > 0, options.accumulation > 0, options.maxBadSteps > 0 else {
            throw TrainingDataError(reason: "Trainer: steps (\(options.steps)), accumulation (\(options.accumulation)) and maxBadSteps (\(options.maxBadSteps)) must be positive")
        }
        self.model = model; self.weights = weights; self.groups = groups; self.options = options
        switch weights {
        case .adapter(let name):
            parameters = model.adapterParameters(name)
            guard !parameters.isEmpty else { throw TrainingDataError(reason: "Trainer: the model has no adapter named '\(name)'") }
            dropouts = model.namedModules().filter { $0.0.contains(".lora.\(name)") }.compactMap { $0.1 as? Dropout }
        case .all:
            do { try model.requireDenseWeights() } catch let e as WeightLoadingError {
                throw TrainingDataError(reason: "Trainer: full fine-tuning: \(e.source) is \(e.reason)")
            }
            parameters = model.baseParameters()
            for (_, p) in parameters { p.trainable = true }
            dropouts = []
        }
        optimizer = AdamW(config: AdamWConfig(weightDecay: options.weightDecay))
        schedule = LearningRateSchedule(kind: options.schedule, peak: options.learningRate,
                                        warmupSteps: options.warmupSteps, totalSteps: options.steps)
        state.dropoutStates = dropouts.map(\.generator.state)
        dropoutSeeds = state.dropoutStates
    }

    /// Which of a batch's groups each of `ranks` processes, as indices into `tokens` (the groups' token
    /// counts): largest first, each to the rank with the fewest tokens so far (lowest rank on ties), each
    /// rank's indices in batch order. The same on every rank.
    public static func share(_ tokens: [Int], ranks: Int) -> [[Int]] {
        var load = [Int](repeating: 0, count: ranks), out = [[Int]](repeating: [], count: ranks)
        for i in tokens.indices.sorted(by: { (tokens[$0], -$0) > (tokens[$1], -$1) }) {
            let r = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            load[r] += tokens[i]; out[r].append(i)
        }
        return out.map { $0.sorted() }
    }

    /// Sets the dropout generators for the group at `position` of `epoch`'s data order.
    func seedDropouts(epoch: Int, position: Int) {
        for (d, seed) in zip(dropouts, dropoutSeeds) {
            var g = SplitMix64(seed: seed ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(position) &* 0xD1B5_4A32_D192_ED03))
            d.generator.state = g.next()
        }
    }

    /// The number of trained values (the length of one flattened gradient).
    var gradientLength: Int { parameters.reduce(0) { $0 + $1.1.value.count } }

    /// Appends the trained weights' gradients, flattened in `parameters` order (zeros where none).
    func appendGradients(to buffer: inout [Float]) {
        for (_, p) in parameters {
            let n = p.value.count
            if let g = p.grad { buffer.append(contentsOf: UnsafeBufferPointer(start: g.data, count: n)) }
            else { buffer.append(contentsOf: repeatElement(0, count: n)) }
        }
    }

    /// Sets the trained weights' gradients from `flat` (`gradientLength` values from its start).
    func setGradients(_ flat: UnsafeBufferPointer<Float>) throws {
        var at = 0
        for (_, p) in parameters {
            let n = p.value.count
            let g = try p.grad ?? Tensor([Float](repeating: 0, count: n), shape: p.shape)
            g.data.update(from: flat.baseAddress! + at, count: n)
            p.value.grad = g
            at += n
        }
    }

    /// Sums the adapter's gradients and `extra` over the ranks (a rank that computed nothing adds zeros).
    func reduce(_ extra: inout [Float]) throws {
        var buffer: [Float] = []
        buffer.reserveCapacity(gradientLength + extra.count)
        appendGradients(to: &buffer)
        buffer += extra
        try communicator.allreduceSum(&buffer)
        try buffer.withUnsafeBufferPointer { try setGradients($0) }
        extra = Array(buffer[gradientLength...])
    }

    /// `training.reduction: ordered`: every rank's `parts` (its groups' [loss, gradient…] in its `shares`
    /// order) gathered on every rank, and the groups' gradients and losses added in batch order, one group
    /// after another from zero, into the trained weights' gradients. Returns the summed loss. One process
    /// and any number of ranks perform the same additions in the same order, so the sums are the same bits.
    func sumInBatchOrder(_ parts: [Float], shares: [[Int]]) throws -> Float {
        let all = try communicator.allgather(parts)
        let width = 1 + gradientLength
        // where group k of the batch is: (rank, offset in that rank's parts)
        var place = [(rank: Int, offset: Int)](repeating: (0, 0), count: shares.reduce(0) { $0 + $1.count })
        for (r, ks) in shares.enumerated() {
            guard all[r].count == ks.count * width else {
                throw TrainingDataError(reason: "Trainer: rank \(r) sent \(all[r].count) values for \(ks.count) groups of \(width)")
            }
            for (i, k) in ks.enumerated() { place[k] = (r, i * width) }
        }
        var total = [Float](repeating: 0, count: gradientLength), loss: Float = 0
        for (r, offset) in place {
            all[r].withUnsafeBufferPointer { part in
                loss += part[offset]
                let g = part.baseAddress! + offset + 1
                total.withUnsafeMutableBufferPointer { t in for x in 0..<t.count { t[x] += g[x] } }
            }
        }
        try total.withUnsafeBufferPointer { try setGradients($0) }
        return loss
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

    /// One optimizer step over `accumulation` groups. When the mean loss or the gradient norm is not finite
    /// (NaN, ±inf) the step is skipped: the gradients are dropped, the adapter, the optimizer moments and the
    /// step count stay as they were, only the data position moves past the batch; the metrics say `skipped`.
    /// The `maxBadSteps`-th skip in a row throws `NonFiniteSteps`.
    public func step() throws -> StepMetrics {
        let start = Date()
        switch weights {
        case .adapter(let name): model.activateAdapter(name)
        case .all: model.activateAdapter(nil)
        }
        model.setTraining(true)
        defer { model.setTraining(false) }
        model.zeroGrad()
        var order = order(epoch: state.epoch)
        // The batch: the next `accumulation` groups of the data order, the same on every rank.
        var batch: [(group: Int, epoch: Int, position: Int)] = []
        for _ in 0..<options.accumulation {
            if state.cursor >= order.count { state.epoch += 1; state.cursor = 0; order = self.order(epoch: state.epoch) }
            batch.append((order[state.cursor], state.epoch, state.cursor))
            state.cursor += 1
        }
        let used = batch.map(\.group)
        var lossSum: Float = 0, tokens = 0
        let shares = communicator.size == 1 ? [Array(batch.indices)]
            : Self.share(used.map { groups[$0].tokenCount }, ranks: communicator.size)
        let mine = shares[communicator.rank]
        let ordered = options.reduction == .ordered
        // ordered: this rank's groups, each as [loss, gradient…], in `mine` order
        var parts: [Float] = []
        for k in mine {
            let b = batch[k]
            seedDropouts(epoch: b.epoch, position: b.position)
            let loss = try model.answerLoss(groups[b.group])
            try (loss * (1 / Float(options.accumulation))).backward()
            if ordered {
                parts.append(loss.item)
                appendGradients(to: &parts)
                model.zeroGrad()
            } else {
                lossSum += loss.item
            }
        }
        tokens = used.reduce(0) { $0 + groups[$1].tokenCount }
        if ordered {
            lossSum = try sumInBatchOrder(parts, shares: shares)
        } else if communicator.size > 1 {
            var extra = [lossSum]
            try reduce(&extra)
            lossSum = extra[0]
        }
        attempts += 1
        switch injectFault?(attempts) {
        case .loss(let x): lossSum = x * Float(options.accumulation)
        case .gradient(let x): parameters[0].1.grad?.data[0] = x
        case nil: break
        }
        let loss = lossSum / Float(options.accumulation)
        let norm = clipGradientNorm(parameters.map(\.1), maxNorm: options.maxGradNorm)
        let lr = schedule.learningRate(at: state.step)
        var metrics = StepMetrics(step: state.step + 1, epoch: state.epoch, loss: loss, learningRate: lr, gradNorm: norm,
                                  tokens: tokens, seconds: 0, groups: used)
        if loss.isFinite && norm.isFinite {
            try optimizer.step(parameters, lr: lr)
            state.step += 1
            state.badInARow = 0
        } else {
            state.skipped += 1
            state.badInARow += 1
            metrics.skipped = true
        }
        model.zeroGrad()
        state.dropoutStates = dropouts.map(\.generator.state)
        metrics.seconds = Date().timeIntervalSince(start)
        if state.badInARow >= options.maxBadSteps { throw NonFiniteSteps(count: state.badInARow, last: metrics) }
        return metrics
    }
}

/// Flags a loss far above the recent ones: a loss greater than `factor` × the median of the last `window`
/// finite losses, once `minimum` of them are known (a median of a few steps says little).
///
///     var spikes = LossSpikeDetector()
///     if let median = spikes.observe(m.loss) { log("loss \(m.loss) at step \(m.step) > 3 × \(median)") }
public struct LossSpikeDetector: Sendable {
    public var window = 50
    public var factor: Float = 3
    public var minimum = 10
    public private(set) var recent: [Float] = []
    public init() {}

    /// Adds `loss` to the window; returns the median it is compared with when `loss` is a spike.
    public mutating func observe(_ loss: Float) -> Float? {
        guard loss.isFinite else { return nil }
        var spike: Float?
        if recent.count >= minimum {
            let sorted = recent.sorted(), n = sorted.count
            let median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
            if loss > factor * median { spike = median }
        }
        recent.append(loss)
        if recent.count > window { recent.removeFirst(recent.count - window) }
        return spike
    }
}

/// A `LossSpikeDetector` per kind of batch (for DocRE, per stage): the stages' losses differ several-fold
/// (Gemma 3's relations lists sit near 1 nat per token while its facts sit near 0.25), so one window over
/// all of them flags ordinary steps of the hardest stage as spikes.
public struct KeyedLossSpikeDetector: Sendable {
    public private(set) var detectors: [String: LossSpikeDetector] = [:]
    public init() {}

    /// How many times its window's median a loss must be to count as a spike (every key's detector's).
    public var factor: Float { LossSpikeDetector().factor }

    /// Adds `loss` to the window of `key`; returns that window's median when `loss` is a spike in it.
    public mutating func observe(_ loss: Float, key: String) -> Float? {
        detectors[key, default: LossSpikeDetector()].observe(loss)
    }
}
