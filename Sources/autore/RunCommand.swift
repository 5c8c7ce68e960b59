// `autore run` (one experiment end to end), `autore sweep` (many) and `autore report` (the table).
import ArgumentParser
import DocRE
import Experiments
import Foundation
import RHF
import Reporting

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train (or resume) an experiment's adapters, extract on its selection and test documents, score them.",
        discussion: "Results go to Experiments/results/<name>/: metrics_<split>.json, predictions_<split>.jsonl, config.yaml, command.txt, training.json, loss curves. Rerunning resumes.")

    @Option(help: "The experiment config (YAML).") var config: String
    @OptionGroup var overrides: Overrides
    @Option(help: "Re-DocRED directory (default: $AUTORE_DATA, the cache, or ../shared/data/redocred).") var dataDir: String?
    @Flag(help: "Also write Experiments/results/README.md afterwards.") var report = false
    @OptionGroup var limit: TimeLimit

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        try OneProcess.require("autore run")
        let runner = try ExperimentRunner(configPath: config, overrides: overrides.parsed(), dataDir: dataDir, command: commandLine())
        let results = try limit.catchingStop { try runner.run(stop: limit.condition) }
        guard let results else { return }
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
    @Option(help: "Re-DocRED directory.") var dataDir: String?
    @Flag(help: "List what would run, how far each unfinished experiment got, and what is finished; then stop.") var dryRun = false
    @OptionGroup var limit: TimeLimit

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        try OneProcess.require("autore sweep")
        let outcome = try Sweep.load(path: sweep).run(dataDir: dataDir, dryRun: dryRun, stop: limit.condition,
                                                      scored: { print(ReportTable.experimentTable($0)) })
        if case .stopped(let s) = outcome { print("time limit: \(s)") }
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
    @Option(help: "Re-DocRED directory for --rescore (default: $AUTORE_DATA, $AUTORE_HOME/data/redocred, ../shared/data/redocred).")
    var dataDir: String?

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        let root = DataLocation.root
        let r = Report(root: root, results: results.map { URL(fileURLWithPath: $0) })
        if rescore {
            guard let loader = SplitLoader(dataDir: dataDir) else { throw ValidationError("Re-DocRED data not found; pass --data-dir or set AUTORE_DATA") }
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

/// `--time-limit`: stop a long job at its next safe point (a checkpoint, a finished batch) after so many
/// minutes, so that it can be resumed by running the same command again.
/// Commands that run in one process (`run`, `sweep`): under `mpirun` with several ranks they stop with a
/// clear error instead of every rank doing the same work.
enum OneProcess {
    static func require(_ command: String) throws {
        guard let n = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init), n > 1 else { return }
        throw ValidationError("\(command) runs in one process; under mpirun, `autore train` is data parallel and `autore extract --out` shares the documents (train and extract there, or run this without mpirun; see Docs/scale-out.md)")
    }
}

struct TimeLimit: ParsableArguments {
    @Option(help: "Stop at the next checkpoint after this many minutes (rerun the command to continue).")
    var timeLimit: Double?
    @Option(help: "Stop once the adapter in training has taken this many optimizer steps, after checkpointing (rerun the command to continue).")
    var stopAtStep: Int?

    var condition: StopCondition {
        var c = timeLimit.map { StopCondition.after(seconds: $0 * 60) } ?? .never
        c.step = stopAtStep
        return c
    }

    func validate() throws {
        if let s = stopAtStep, s < 1 { throw ValidationError("--stop-at-step must be at least 1, not \(s)") }
        if let t = timeLimit, !(t.isFinite && t > 0) {
            throw ValidationError("--time-limit must be a positive, finite number of minutes, not \(t)")
        }
    }

    /// The body's value, or nil when it stopped on the time limit (after saying so).
    func catchingStop<T>(_ body: () throws -> T) throws -> T? {
        do { return try body() } catch let s as RunStopped {
            print("time limit: \(s)")
            return nil
        }
    }
}
