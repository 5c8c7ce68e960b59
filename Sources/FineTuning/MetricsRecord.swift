// The records of a training run's metrics log (metrics.jsonl): one line per step taken or skipped, per
// loss spike and per evaluation. Not the log file itself (MetricsLog) and not the trainer.
import Foundation

/// One line of metrics.jsonl.
public struct MetricsRecord: Codable {
    public var kind: MetricKind
    public var step: Int
    public var epoch: Int?
    public var loss: Float
    public var learningRate: Float?
    public var gradNorm: Float?
    public var tokensPerSecond: Double?
    public var seconds: Double?
    /// Stage F1 by generation on selection documents (eval records), with its precision and recall.
    public var f1: Double?
    public var precision: Double?
    public var recall: Double?
    /// The batch of a step (train, skipped or spike records): indices of its prefix groups among the training groups.
    public var groups: [Int]?
    /// The median of the recent losses a spike is compared with.
    public var median: Float?

    public init(kind: MetricKind, step: Int, epoch: Int? = nil, loss: Float, learningRate: Float? = nil, gradNorm: Float? = nil,
                tokensPerSecond: Double? = nil, seconds: Double? = nil, f1: Double? = nil, precision: Double? = nil,
                recall: Double? = nil, groups: [Int]? = nil, median: Float? = nil) {
        self.kind = kind; self.step = step; self.epoch = epoch; self.loss = loss; self.learningRate = learningRate
        self.gradNorm = gradNorm; self.tokensPerSecond = tokensPerSecond; self.seconds = seconds; self.f1 = f1
        self.precision = precision; self.recall = recall; self.groups = groups; self.median = median
    }

    /// The seconds of the training steps and evaluations `records` log: over every session of a resumed run
    /// (its log keeps each step once), without the loading and setup of each process.
    public static func trainingSeconds(_ records: [MetricsRecord]) -> Double {
        records.filter { $0.kind == .train || $0.kind == .eval }.reduce(0) { $0 + ($1.seconds ?? 0) }
    }
}

/// What a line of metrics.jsonl records.
public enum MetricKind: String, Codable, Sendable, CaseIterable {
    /// An optimizer step taken.
    case train
    /// An evaluation (held-out loss, stage F1).
    case eval
    /// A step with a non-finite loss or gradient norm, not taken; `step` is the number it would have had.
    case skipped
    /// A train step whose loss exceeded 3 × `median` of the last 50.
    case spike
}
