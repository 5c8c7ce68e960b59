// `autore run` (one experiment end to end), `autore sweep` (many) and `autore report` (the table).
import ArgumentParser
import Distributed
import DocRE
import Experiments
import Foundation
import RHF
import Reporting

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train (or resume) an experiment's adapters, extract on its selection and test documents, score them.",
        discussion: "Results go to Experiments/results/<name>/: metrics_<split>.json, predictions_<split>.jsonl, config.yaml, command.txt, training.json, loss curves. Rerunning resumes. Under `mpirun -np N`, the N ranks train data parallel (as `autore train`) and share the documents to extract (as `autore extract --out`); rank 0 writes every file.")

    @Option(help: "The experiment config (YAML).") var config: String
    @OptionGroup var overrides: Overrides
    @OptionGroup var data: DataDirOption
    @Flag(help: "Also write Experiments/results/README.md afterwards.") var report = false
    @OptionGroup var limit: TimeLimit

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        // under mpirun every rank trains (data parallel) and extracts (documents shared); rank 0 writes,
        // and the recorded command says how many ranks ran it
        let comm = try MPICommunicator.job()
        let command = (comm.size > 1 ? "mpirun -np \(comm.size) " : "") + commandLine()
        let runner = try comm.together {
            try ExperimentRunner(configPath: config, overrides: overrides.parsed(), dataDir: data.dataDir, command: command)
        }
        try comm.requireSame(runner.configText, what: "config", source: config)
        let results = try limit.catchingStop { try runner.run(stop: limit.condition, communicator: comm) }
        guard let results, comm.isLead else { return }
        print(ReportTable.experimentTable(results))
        if report { try Report(root: DataLocation.root).write() }
    }
}

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run every experiment a sweep file lists, skipping finished ones and resuming unfinished ones.",
        discussion: "A sweep file (YAML): `name: …`, `configs: [Experiments/ablations/a.yaml, …]` and/or `base: X.yaml` with `grid: {lora.rank: [8, 32], …}` (every combination) or `variants: [{lora.rank: 8, lora.alpha: 16}, …]`, optionally `compute: …`. An experiment made from the base is named after it with the changed settings appended. Several sweeps over the same file share the work: an experiment another process is running is skipped (its run folder is locked), so on 2 cores two sweeps with AUTORE_THREADS=1 each run two experiments at once.")

    @Argument(help: "The sweep file.") var sweep: String
    @OptionGroup var data: DataDirOption
    @Flag(help: "List what would run, how far each unfinished experiment got, and what is finished; then stop.") var dryRun = false
    @Option(help: "Under mpirun: how many ranks train and extract each experiment together (data parallel). The job's ranks form groups of this size, and each group takes the next experiment no other group holds. 1: every rank runs experiments on its own, without MPI.")
    var ranksPerExperiment = 1
    @OptionGroup var limit: TimeLimit

    @OptionGroup var rootOption: RootOption

    func validate() throws {
        guard ranksPerExperiment >= 1 else { throw ValidationError("--ranks-per-experiment must be at least 1, not \(ranksPerExperiment)") }
        let world = MPIJob.size
        guard world % ranksPerExperiment == 0 else {
            throw ValidationError("--ranks-per-experiment \(ranksPerExperiment) does not divide the job's \(world) rank\(world == 1 ? "" : "s") (mpirun -np) into groups")
        }
    }

    func run() throws {
        rootOption.apply()
        // Groups of ranks: one alone needs no MPI (the run locks keep groups apart); larger ones split the world.
        let k = ranksPerExperiment, world = MPIJob.size
        let group: Communicator
        if k == 1 { group = SingleProcess() } else {
            let w = try MPICommunicator()
            group = try w.split(color: w.rank / k, key: w.rank)
        }
        let first = MPIJob.rank / k * k
        let label = world == 1 ? "" : k == 1 ? "[rank \(first)] " : "[ranks \(first)–\(first + k - 1)] "
        let outcome = try Sweep.load(path: sweep).run(dataDir: data.dataDir, dryRun: dryRun, stop: limit.condition, communicator: group,
                                                      say: { print(label + $0) },
                                                      scored: { print(ReportTable.experimentTable($0)) })
        guard group.isLead else { return }
        if case .stopped(let s) = outcome { print(label + "\(StopSignal.reason): \(s)") }
        // each group's lead writes the report when it is done (atomically; the last one sees every result)
        if !dryRun { try Report(root: DataLocation.root).write() }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write Experiments/results/README.md: every experiment's scores beside AutoRE's and TAG's published numbers (and results.csv, results.tex and the figures ablations.svg, unseen.svg, propagation.svg beside it).")

    @Option(help: "The results folder.") var results: String?
    @Flag(help: "First score every results folder's predictions again with this build (adds per-document counts for the paired tests).")
    var rescore = false
    @OptionGroup var data: DataDirOption

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        let root = DataLocation.root
        let r = Report(root: root, results: results.map { URL(fileURLWithPath: $0) })
        if rescore {
            guard let loader = SplitLoader(dataDir: data.dataDir) else { throw ValidationError("Re-DocRED data not found; pass --data-dir or set AUTORE_DATA") }
            try r.rescore(loader: loader)
        }
        let path = try r.write()
        let beside = Report.exports.filter { FileManager.default.fileExists(atPath: r.results.appendingPathComponent($0).path) }
        print("wrote \(path) and, beside it, \(beside.joined(separator: ", "))")
    }
}

/// The command as typed, for the results folder.
func commandLine() -> String {
    (["autore"] + CommandLine.arguments.dropFirst()).map(shellWord).joined(separator: " ")
}

/// `--set key.path=value` (repeatable): settings changed in the config without editing it.
struct Overrides: ParsableArguments {
    @Option(name: .customLong("set"), help: ArgumentHelp("Change a setting of the config: a dotted key path and a YAML value (lora.rank=8, lora.targets=[q_proj,k_proj]); repeatable. Unless one sets name, the experiment is named after the config with the changes appended.", valueName: "key=value"))
    var values: [String] = []

    func parsed() throws -> [ConfigOverride] { try values.map(ConfigOverride.init(parsing:)) }
}

/// This process's place in an MPI job, from the launcher's environment (before, or without, MPI_Init):
/// size 1 and rank 0 outside `mpirun`.
enum MPIJob {
    static var size: Int { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init) ?? 1 }
    static var rank: Int { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"].flatMap(Int.init) ?? 0 }
}

/// `--time-limit`: stop a long job at its next safe point (a checkpoint, a finished batch) after so many
/// minutes, so that it can be resumed by running the same command again.
struct TimeLimit: ParsableArguments {
    @Option(help: "Stop at the next checkpoint after this many minutes (rerun the command to continue). Ctrl-C or SIGTERM stops the same way, after the step in progress; a second one ends the process at once.")
    var timeLimit: Double?
    @Option(help: "Stop once the adapter in training has taken this many optimizer steps, after checkpointing (rerun the command to continue).")
    var stopAtStep: Int?

    /// The time limit, the step limit, and a SIGINT or SIGTERM (`StopSignal`).
    var condition: StopCondition {
        var c = timeLimit.map { StopCondition.after(seconds: $0 * 60) } ?? .never
        c.step = stopAtStep
        return StopSignal.arming(c)
    }

    func validate() throws {
        if let s = stopAtStep, s < 1 { throw ValidationError("--stop-at-step must be at least 1, not \(s)") }
        if let t = timeLimit, !(t.isFinite && t > 0) {
            throw ValidationError("--time-limit must be a positive, finite number of minutes, not \(t)")
        }
    }

    /// The body's value, or nil when it stopped on the time limit or a stop signal (after saying so).
    func catchingStop<T>(_ body: () throws -> T) throws -> T? {
        do { return try body() } catch let s as RunStopped {
            print("\(StopSignal.reason): \(s)")
            return nil
        }
    }
}
