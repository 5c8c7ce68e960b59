// `autore train --config Experiments/X.yaml [--resume]`: fine-tune one stage adapter from a config.
import ArgumentParser
import AutoRE
import FineTuning
import Foundation
import LanguageModels
import ModelFormats

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a LoRA adapter over the 4-bit base as an experiment config says.",
        discussion: "Writes the run folder (Experiments/runs/<name>/ unless --out): config, metrics.jsonl, checkpoints, adapter.")

    @Option(help: "The experiment config (YAML).")
    var config: String
    @Option(help: "The run folder (default Experiments/runs/<name>).")
    var out: String?
    @Option(help: "Override training.steps (for a quick look).")
    var steps: Int?
    @Option(help: "Re-DocRED directory (default: $AUTORE_DATA, the cache, or ../shared/data/redocred).")
    var dataDir: String?
    @Flag(help: "Continue from the run folder's checkpoint.h5 (the config must be the same).")
    var resume = false

    func run() throws {
        var cfg = try ExperimentConfig.load(path: config)
        if let steps { cfg.training.steps = steps; cfg.training.epochs = nil }
        let experiment = try Experiment(config: cfg, dataDir: dataDir)
        let run = out.map { RunDirectory(URL(fileURLWithPath: $0)) } ?? RunDirectory.forExperiment(cfg.name)
        try run.create()
        let configText = try String(contentsOfFile: config, encoding: .utf8)
        let checkpointPath = run.file("checkpoint.h5")
        let checkpoint = resume ? try Checkpoint(contentsOf: checkpointPath) : nil
        if let checkpoint, checkpoint.strings["config"] != configText {
            throw ValidationError("\(config) differs from the config \(checkpointPath) was trained with; resume with the same file")
        }
        if !resume {
            for f in ["metrics.jsonl", "checkpoint.h5"] { try? FileManager.default.removeItem(atPath: run.file(f)) }
        }
        try configText.write(toFile: run.file("config.yaml"), atomically: true, encoding: .utf8)
        let loaded = try LoadedModel(cfg.baseModel == "smollm2" ? nil : cfg.baseModel,
                                     quantization: cfg.quantization, doubleQuantization: cfg.doubleQuantization)
        let job = try TrainJob(experiment: experiment, model: loaded.model, tokenizer: loaded.tokenizer, run: run)
        for n in job.notes { print("note: \(n)") }
        print("train: \(job.train.groups.count) prefix groups from \(job.train.examples) examples (\(job.train.dropped) over the cutoff), \(job.train.tokens) tokens; \(job.steps) steps")
        let trainer = try Trainer(model: job.model, adapter: experiment.adapterName, groups: job.train.groups, options: job.trainerOptions)
        if let checkpoint {
            try trainer.restore(checkpoint, source: checkpointPath)
            print("resumed at step \(trainer.state.step) of \(job.steps)")
        }
        let log = try MetricsLog(path: run.file("metrics.jsonl"))
        try job.run(trainer: trainer, log: log) { t in
            try t.checkpoint(config: configText).save(to: checkpointPath)
        }
        print("run folder: \(run.path)")
    }
}
