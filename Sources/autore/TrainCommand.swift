// `autore train --config Experiments/X.yaml [--resume]`: fine-tune the adapter(s) an experiment config names.
import ArgumentParser
import AutoRE
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune LoRA adapters over the 4-bit base as an experiment config says.",
        discussion: """
        Writes the run folder (Experiments/runs/<name>/ unless --out; with `stage: each`, one subfolder per stage): \
        config.yaml, metrics.jsonl, checkpoint.h5 (every training.checkpoint_every steps), best.h5 (the best \
        evaluation), adapter.h5 (the last step), loss.svg and summary.json.
        """)

    @Option(help: "The experiment config (YAML).")
    var config: String
    @OptionGroup var overrides: Overrides
    @Option(help: "The run folder (default Experiments/runs/<name>).")
    var out: String?
    @Option(help: "Override training.steps (for a quick look).")
    var steps: Int?
    @Option(help: "Re-DocRED directory (default: $AUTORE_DATA, the cache, or ../shared/data/redocred).")
    var dataDir: String?
    @Flag(help: "Continue: skip finished adapters and resume interrupted ones from checkpoint.h5 (the config must be the same).")
    var resume = false
    @OptionGroup var limit: TimeLimit

    func run() throws {
        let (cfg, configText) = try SweepExperiment(config: config, overrides: overrides.parsed()).load()
        let root = out.map { RunDirectory(URL(fileURLWithPath: $0)) } ?? RunDirectory.forExperiment(cfg.name)
        let lock = try RunLock(root)
        defer { lock.release() }
        let base = try LoadedModel(config: cfg)
        _ = try limit.catchingStop {
            try TrainingRun.train(config: cfg, configText: configText, root: root, base: base, dataDir: dataDir,
                                  policy: resume ? .resume : .fresh, stepsOverride: steps, stop: limit.condition)
        }
        print("run folder: \(root.path)")
    }
}
