// `autore-bench stems`: a training stage's forward + backward over real documents with the questions'
// shared stems computed once (StemTree) against sharing the document prefix only: tokens computed,
// seconds, and the ratio, timed alternately in one process. Both ways must give the same total loss.
import ArgumentParser
import Autograd
import DocRE
import Experiments
import FineTuning
import Foundation
import LanguageModels
import RHF

struct BenchStems: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stems",
        abstract: "A stage's training pass with shared question stems vs the document prefix only (real documents).",
        discussion: """
            Builds the stage's examples for the first --documents training documents of --config, batches them \
            both ways (as `autore train` does, with stems of at least \(StemTree.defaultMinimum) tokens, and by \
            length with the prefix shared only), and times forward + backward over all groups (no optimizer step).
            """)

    @Option(help: "Experiment config whose data, prompts, LoRA and batching to use.") var config = "Experiments/main_rhf.yaml"
    @Option(help: "Stage: relations, heads or facts.") var stage = "facts"
    @Option(help: "Training documents to build examples from.") var documents = 8
    @Option(help: "Timed passes each way (the median is reported); 0 counts tokens only.") var repeats = 3
    @Option(help: "Re-DocRED directory.") var dataDir: String?
    @Flag(help: "Print JSON.") var json = false

    struct Side: Encodable {
        var groups: Int
        var computedTokens: Int
        var seconds: Double
        var answerTokenLoss: Double
    }
    struct Result: Encodable {
        var config: String, stage: String, documents: Int, threads: Int
        var exampleTokens: Int
        var prefixOnly: Side, stems: Side
        var speedup: Double
    }

    func run() throws {
        var cfg = try ExperimentConfig.load(path: config)
        guard let s = Stage(rawValue: stage), cfg.paradigm.stages.contains(s) else {
            throw ValidationError("--stage \(stage): \(cfg.paradigm.rawValue) has stages \(cfg.paradigm.stages.map(\.rawValue).joined(separator: ", "))")
        }
        cfg.adapterLayout = .single(s)
        let experiment = try Experiment(config: cfg, dataDir: dataDir)
        let docs = try experiment.documents(cfg.data.train).documents.prefix(documents)
        let base = try LoadedModel(config: cfg)
        let format = try PromptFormat(tokenizer: base.tokenizer, chatTemplate: cfg.chatTemplate)
        let examples = try experiment.examples(Array(docs))
        let t = cfg.training
        let flat = format.groups(examples, cutoff: t.cutoffLength, maxQuestions: t.maxQuestionsPerGroup, stemMinimum: .max)
        let tree = format.groups(examples, cutoff: t.cutoffLength, maxQuestions: t.maxQuestionsPerGroup)
        try base.model.addAdapter("bench", config: cfg.lora.loraConfig, seed: 1)
        // B ≠ 0 so that the adapter's gradients are those of a trained adapter
        for (key, p) in base.model.adapterParameters("bench") where key.contains("lora_B") {
            p.value = Tensor.randn(p.shape, std: 0.01, seed: UInt64(key.count), requiresGrad: true)
        }
        base.model.activateAdapter("bench")
        for (_, l) in base.model.linearLayers(matching: cfg.lora.targets) { l.adapters["bench"]?.dropout = nil }   // the same masks both ways

        var losses: [Double] = [0, 0]
        func pass(_ groups: [PrefixGroup], minimum: Int, slot: Int) throws {
            var total = 0.0
            for g in groups {
                base.model.zeroGrad()
                let loss = try base.model.answerLoss(g, stemMinimum: minimum)
                try loss.backward()
                total += Double(loss.item) * Double(g.answerTokenCount)
            }
            losses[slot] = total
        }
        FileHandle.standardError.write(Data("\(docs.count) documents, \(examples.count) \(stage) examples: \(flat.groups.count) groups by length, \(tree.groups.count) with stems; \(repeats == 0 ? "counting tokens only" : "timing \(repeats) passes each way")…\n".utf8))
        let (a, b) = repeats == 0 ? (0, 0) : try Stopwatch(repeats: repeats, warmups: 1).timePair(
            { try pass(flat.groups, minimum: .max, slot: 0) }, { try pass(tree.groups, minimum: StemTree.defaultMinimum, slot: 1) })
        let computed = { (gs: [PrefixGroup], m: Int) in gs.reduce(0) { $0 + $1.computedTokenCount(stemMinimum: m) } }
        let r = Result(config: config, stage: stage, documents: docs.count, threads: Threads.count, exampleTokens: flat.tokens,
                       prefixOnly: Side(groups: flat.groups.count, computedTokens: computed(flat.groups, .max), seconds: a, answerTokenLoss: losses[0]),
                       stems: Side(groups: tree.groups.count, computedTokens: computed(tree.groups, StemTree.defaultMinimum), seconds: b, answerTokenLoss: losses[1]),
                       speedup: b > 0 ? a / b : 0)
        if json { try printJSON(r); return }
        print("\(config) · stage \(stage) · \(r.documents) training documents · \(r.exampleTokens) example tokens · threads \(r.threads)")
        print("                      groups  computed tokens   pass s   Σ answer-token loss")
        for (name, s) in [("document prefix only", r.prefixOnly), ("shared stems", r.stems)] {
            print(name.padding(toLength: 21, withPad: " ", startingAt: 0) + String(format: " %6d %16d %8.2f %21.4f", s.groups, s.computedTokens, s.seconds, s.answerTokenLoss))
        }
        print(String(format: "tokens computed: %.1f%% fewer with stems", 100 * (1 - Double(r.stems.computedTokens) / Double(r.prefixOnly.computedTokens))))
        guard repeats > 0 else { return }
        print(String(format: "speed-up %.2f× (forward + backward, no optimizer step); the two losses differ by %.1e relative",
                     r.speedup, abs(losses[0] - losses[1]) / max(1e-12, abs(losses[0]))))
    }
}
