// `autore-bench train`: a config's training time predicted before it runs. The epoch's prefix groups are
// built as `autore train` builds them; a sample of them, one from each stratum of the groups ordered by the
// tokens a step computes for them, is trained on (forward, backward, optimizer step; the weights are thrown
// away), and the seconds per computed token of the sample, times the tokens of every step the config takes,
// predict the training time. One held-out evaluation is timed too, for the evaluations the config asks for.
// Where the config's run folder already has a metrics log, the measured rate is printed beside.
import ArgumentParser
import Autograd
import DocRE
import Experiments
import FineTuning
import Foundation
import LanguageModels
import RHF
import Support

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "A config's training time predicted from a stratified sample of its steps (real data), beside what its run measured.",
        discussion: """
            Builds every adapter run's training groups as `autore train` does, trains on --sample of them (one from \
            each of --sample strata of the groups ordered by computed tokens, after one warm-up step) and predicts \
            the run's training seconds as (tokens its steps compute) × (sample seconds / sample tokens), plus its \
            held-out evaluations (one timed). Threads: AUTORE_THREADS, as for `autore train`. Nothing is written.
            """)

    @Option(help: "Experiment config (YAML).") var config: String
    @Option(help: "Groups trained on to measure the rate, one per stratum.") var sample = 12
    @Option(help: "Seed of the pick within each stratum.") var seed: UInt64 = 0
    @Option(help: "Re-DocRED directory.") var dataDir: String?
    @Flag(help: "Print JSON.") var json = false

    struct Plan: Codable {
        var scope: String
        var groups: Int
        var steps: Int
        var accumulation: Int
        /// Tokens of the whole run's steps (each group's prefix, questions and answers, as the metrics log
        /// counts them), and the tokens those steps compute (shared stems once, padding included).
        var tokens: Double
        var computedTokens: Double
        var sampleGroups: Int
        var sampleTokens: Int
        var sampleComputedTokens: Int
        var sampleSeconds: Double
        /// The sample's tokens (as `tokens`) per second.
        var tokensPerSecond: Double
        var evaluations: Int
        var evaluationSeconds: Double
        var predictedSeconds: Double
        /// From the run folder's metrics.jsonl, when there is one: steps logged and their tokens/s.
        var measuredSteps: Int?
        var measuredTokensPerSecond: Double?
        /// The run's time at its own measured rate (plus the evaluations as timed here).
        var predictedFromMeasuredSeconds: Double?
    }
    struct Result: Codable {
        var config: String, threads: Int
        var plans: [Plan]
        var predictedSeconds: Double
    }

    func validate() throws {
        guard sample >= 1 else { throw ValidationError("--sample must be at least 1 (got \(sample))") }
    }

    func run() throws {
        let cfg = try ExperimentConfig.load(path: config)
        guard !cfg.isDecodingVariant else {
            throw ValidationError("\(config): decodes with run '\(cfg.run ?? "")'s adapters (run:); it trains nothing")
        }
        let base = try LoadedModel(config: cfg)
        // The run's own folders: read for their metrics logs only (a TrainJob writes nothing until it runs).
        let plans = try cfg.adapterRuns(in: RunDirectory.forExperiment(cfg.name)).map { try predict($0, base: base) }
        let r = Result(config: config, threads: Threads.count, plans: plans, predictedSeconds: plans.reduce(0) { $0 + $1.predictedSeconds })
        if json { try printJSON(r); return }
        print("\(config) · threads \(r.threads) · sample of \(sample) groups per adapter run (seed \(seed))")
        print("adapter run   groups  steps      tokens  computed  sample tok/s  evaluations × s   predicted | run's own tok/s (steps)  at that rate")
        for p in plans {
            let measured = p.measuredTokensPerSecond.map { String(format: "%15.0f (%5d)", $0, p.measuredSteps ?? 0) } ?? String(repeating: " ", count: 19) + "–"
            print(p.scope.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: " %7d %6d %11.0f %9.0f %13.0f %6d × %6.1f   ", p.groups, p.steps, p.tokens, p.computedTokens, p.tokensPerSecond,
                           p.evaluations, p.evaluations > 0 ? p.evaluationSeconds / Double(p.evaluations) : 0)
                  + Self.clock(p.predictedSeconds).leftPadded(9) + " | " + measured + "  " + (p.predictedFromMeasuredSeconds.map(Self.clock) ?? "–").leftPadded(12))
        }
        print("predicted training time: \(Self.clock(r.predictedSeconds)) (h:mm:ss) at \(r.threads) thread(s); rates of the measured column are the run's own, at its own threads and load")
        if cfg.evaluation.generationDocuments > 0 {
            print("not included: the stage F1 by generation on \(cfg.evaluation.generationDocuments) selection documents at each evaluation (evaluation.generation_documents)")
        }
    }

    static func clock(_ s: Double) -> String { ProgressLine.clock(s, hours: true) }

    /// One adapter run's prediction: its groups, a timed stratified sample, one timed evaluation.
    func predict(_ plan: AdapterRunPlan, base: LoadedModel) throws -> Plan {
        let cfg = plan.config
        let experiment = try Experiment(config: cfg, dataDir: dataDir)
        let job = try TrainJob(experiment: experiment, model: base.model, tokenizer: base.tokenizer, run: plan.directory)
        let groups = job.train.groups
        let cost = groups.map { $0.computedTokenCount(stemMinimum: StemTree.defaultMinimum) }
        let picks = Self.stratifiedSample(costs: cost, count: min(sample, groups.count), seed: seed)
        var options = job.trainerOptions
        options.accumulation = 1
        FileHandle.standardError.write(Data("\(cfg.name) · \(plan.scope): \(groups.count) groups; training on \(picks.count) of them after one warm-up step…\n".utf8))
        // One warm-up step (first allocations, the kept Float32 copy of the base), then the timed ones.
        options.steps = 1
        _ = try Trainer(model: job.model, weights: job.trained, groups: [groups[picks[0]]], options: options).step()
        options.steps = picks.count
        let trainer = try Trainer(model: job.model, weights: job.trained, groups: picks.map { groups[$0] }, options: options)
        var seconds = 0.0, computed = 0, tokens = 0
        for _ in picks {
            let m = try trainer.step()
            seconds += m.seconds
            computed += m.groups.reduce(0) { $0 + cost[picks[$1]] }
            tokens += m.tokens
        }
        // Every group once per epoch: the steps' groups in whole and partial epochs, at the mean group.
        let groupsRun = Double(job.steps * cfg.training.accumulation)
        let runComputed = groupsRun * Double(cost.reduce(0, +)) / Double(groups.count)
        let runTokens = groupsRun * Double(groups.reduce(0) { $0 + $1.tokenCount }) / Double(groups.count)
        // Evaluations: every `every` steps and at the end (and at step 0 when starting from another adapter).
        let every = max(1, cfg.evaluation.every)
        let evaluations = job.heldOut.isEmpty ? 0 : job.steps / every + (job.steps % every == 0 ? 0 : 1) + (cfg.training.initFrom == nil ? 0 : 1)
        var evalSeconds = 0.0
        if evaluations > 0 { evalSeconds = try Stopwatch.seconds { _ = try job.heldOutLoss() } * Double(evaluations) }
        // What the run itself logged: its train steps' tokens (the same count as `tokens`) over their seconds.
        var measuredSteps: Int?, measuredRate: Double?
        let log = plan.directory.file("metrics.jsonl")
        if FileManager.default.fileExists(atPath: log), let records = try? MetricsLog.read(MetricsRecord.self, from: log) {
            let train = records.filter { $0.kind == .train }
            let s = train.reduce(0.0) { $0 + ($1.seconds ?? 0) }
            let t = train.reduce(0.0) { $0 + ($1.tokensPerSecond ?? 0) * ($1.seconds ?? 0) }
            if !train.isEmpty && s > 0 { measuredSteps = train.count; measuredRate = t / s }
        }
        return Plan(scope: plan.scope.description, groups: groups.count, steps: job.steps, accumulation: cfg.training.accumulation,
                    tokens: runTokens, computedTokens: runComputed, sampleGroups: picks.count, sampleTokens: tokens,
                    sampleComputedTokens: computed, sampleSeconds: seconds, tokensPerSecond: Double(tokens) / max(seconds, 1e-9),
                    evaluations: evaluations, evaluationSeconds: evalSeconds,
                    predictedSeconds: runComputed * seconds / Double(max(1, computed)) + evalSeconds,
                    measuredSteps: measuredSteps, measuredTokensPerSecond: measuredRate,
                    predictedFromMeasuredSeconds: measuredRate.map { runTokens / $0 + evalSeconds })
    }

    /// `count` indices of `costs`: the indices ordered by cost (ties by index) are cut into `count` strata of
    /// (nearly) equal size, and one index is drawn from each with a generator seeded by `seed`.
    static func stratifiedSample(costs: [Int], count: Int, seed: UInt64) -> [Int] {
        let order = costs.indices.sorted { (costs[$0], $0) < (costs[$1], $1) }
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { k in
            let lo = k * order.count / count, hi = (k + 1) * order.count / count
            return order[lo + Int(rng.next() % UInt64(hi - lo))]
        }
    }
}

fileprivate extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
