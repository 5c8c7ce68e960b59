// `autore train --config Experiments/X.yaml [--resume]`: fine-tune the adapter(s) an experiment config names.
import ArgumentParser
import Distributed
import Experiments
import Foundation
import RHF

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune LoRA adapters over the 4-bit base (or every weight) as an experiment config says.",
        discussion: """
        Writes the run folder (Experiments/runs/<name>/ unless --out; with `stage: each`, one subfolder per stage): \
        config.yaml, metrics.jsonl, checkpoint.h5 (every training.checkpoint_every steps), best.h5 (the best \
        evaluation), adapter.h5 (the last step), loss.svg and summary.json. A finished run keeps one adapter, \
        the best (else the last), as a PEFT folder, peft/, in place of the two .h5 files. With \
        `fine_tuning: full`, every weight is trained and best/ and final/model.safetensors take the adapters' place.

        Data parallel under Open MPI: `mpirun -np N autore train --config X.yaml` splits each step's \
        training.accumulation prefix groups over the N ranks (balanced by tokens) and sums the gradients; the \
        result equals one process accumulating the same groups (up to float summation order). Rank 0 writes \
        every file; a checkpoint resumes under any number of ranks. Each rank uses cores / local ranks threads \
        unless AUTORE_THREADS says otherwise.
        """)

    @Option(help: "The experiment config (YAML).")
    var config: String
    @OptionGroup var overrides: Overrides
    @Option(help: "The run folder (default Experiments/runs/<name>).")
    var out: String?
    @Option(help: "Override training.steps (for a quick look).")
    var steps: Int?
    @OptionGroup var data: DataDirOption
    @Flag(help: "Continue: skip finished adapters and resume interrupted ones from checkpoint.h5 (the config must be the same).")
    var resume = false
    @OptionGroup var limit: TimeLimit

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        let comm = try MPICommunicator.job()
        // a rank that cannot read the config, lock the run or load the model stops every rank, with its reason
        let (cfg, configText) = try comm.together { try SweepExperiment(config: config, overrides: overrides.parsed()).load() }
        try comm.requireSame(configText, what: "config", source: config)
        let root = out.map { RunDirectory(URL(fileURLWithPath: $0)) } ?? RunDirectory.forExperiment(cfg.name)
        let lock = try comm.together { comm.isLead ? try RunLock(root) : nil }
        defer { lock?.release() }
        let base = try comm.together { try LoadedModel(config: cfg) }
        _ = try limit.catchingStop {
            try TrainingRun.train(config: cfg, configText: configText, root: root, base: base, dataDir: data.dataDir,
                                  policy: resume ? .resume : .fresh, stepsOverride: steps, stop: limit.condition,
                                  communicator: comm)
        }
        if comm.isLead { print("run folder: \(root.path)") }
    }
}
