// Sweep files (`autore sweep S.yaml`): the experiments to run one after another, listed as config files,
// or made from one base config by changing settings (a grid of values, or listed variants), or both; and
// running them (finished ones skipped, busy ones left to the process that holds them, one base in memory).
import Distributed
import DocRE
import Foundation
import RHF
import Yams

/// One experiment of a sweep: a config file and the settings changed in it.
public struct SweepExperiment: Equatable {
    public var config: String
    public var overrides: [ConfigOverride]

    public init(config: String, overrides: [ConfigOverride] = []) { self.config = config; self.overrides = overrides }

    /// The config with the overrides applied, and its YAML text.
    public func load() throws -> (config: ExperimentConfig, text: String) {
        try ExperimentConfig.applying(overrides, to: ExperimentConfig.text(path: config), file: DataLocation.shown(config))
    }

    /// The `autore run` command that runs this experiment alone (`config` as the user should type it).
    public func command(config shown: String) -> String {
        (["autore", "run", "--config", shown] + overrides.flatMap { ["--set", $0.description] }).map(shellWord).joined(separator: " ")
    }
}

/// A command-line word as a POSIX shell reads it back: as it is when it holds only safe characters, else
/// single-quoted (`'lora.targets=[q_proj, k_proj]'`). Recorded commands (`command.txt`, timings) use it.
public func shellWord(_ s: String) -> String {
    s.allSatisfy({ $0.isLetter || $0.isNumber || "._=-:/+@,".contains($0) }) ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A sweep: experiments run one after another (`autore sweep`).
///
///     name: lora_rank
///     compute: about 3 hours on 2 cores
///     configs: [../ablations/D_R_F.yaml]          # run as they are
///     base: ../ablations/D_R_H_F_desc.yaml         # and this one changed:
///     grid: {lora.rank: [8, 32], training.seed: [0, 1]}                      # every combination (4), or
///     variants: [{lora.rank: 8, lora.alpha: 16}, {lora.rank: 32, lora.alpha: 64}]   # each one listed
public struct Sweep {
    public var name: String
    public var experiments: [SweepExperiment]
    public var compute: String?

    static let keys = ["name", "configs", "base", "grid", "variants", "compute"]
    /// The most experiments one grid may make.
    static let maxGridExperiments = 1000

    public static func load(path: String) throws -> Sweep {
        func bad(_ reason: String) -> ConfigError { ConfigError(file: path, reason: reason) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw bad("cannot read the file") }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw bad("not valid YAML: \(error)") }
        if let root { try YAMLTree.check(root, file: path) }
        guard let top = root?.mapping else { throw bad("not a YAML mapping") }
        for k in top.keys.compactMap(\.string) where !keys.contains(k) {
            throw bad("unknown key '\(k)' (allowed: \(keys.joined(separator: ", ")))")
        }
        guard let name = top["name"]?.string, !name.isEmpty else { throw bad("needs a name") }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ c: String) throws -> String {
            let p = (FileManager.default.fileExists(atPath: c) ? URL(fileURLWithPath: c) : folder.appendingPathComponent(c)).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: p) else { throw bad("config \(c) does not exist") }
            return p
        }
        var experiments: [SweepExperiment] = []
        if let configs = top["configs"] {
            guard let list = configs.sequence, list.allSatisfy({ $0.string != nil }) else { throw bad("configs must be a list of config files") }
            experiments += try list.map { SweepExperiment(config: try resolve($0.string!)) }
        }
        let changes = try overrideSets(grid: top["grid"], variants: top["variants"], file: path)
        if let base = top["base"] {
            guard let b = base.string else { throw bad("base must be a config file") }
            guard !changes.isEmpty else { throw bad("base needs a grid or variants: the settings to change in it") }
            let config = try resolve(b)
            experiments += changes.map { SweepExperiment(config: config, overrides: $0) }
        } else if !changes.isEmpty {
            throw bad("grid and variants change a base config: add base: <config file>")
        }
        guard !experiments.isEmpty else { throw bad("lists no experiment (configs, or base with grid or variants)") }
        // every experiment must parse, and each needs its own name (its own run and results folders)
        var seen: [String: SweepExperiment] = [:]
        for e in experiments {
            let c = try e.load().config
            if let other = seen[c.name] {
                throw bad("two experiments are both named '\(c.name)' (\(other.config) and \(e.config)); each needs its own name")
            }
            seen[c.name] = e
        }
        return Sweep(name: name, experiments: experiments, compute: top["compute"]?.string)
    }

    /// The override sets of `grid` (every combination, keys in file order) and `variants` (each listed).
    static func overrideSets(grid: Node?, variants: Node?, file: String) throws -> [[ConfigOverride]] {
        func bad(_ reason: String) -> ConfigError { ConfigError(file: file, reason: reason) }
        var sets: [[ConfigOverride]] = []
        if let grid {
            guard let map = grid.mapping, !map.isEmpty else { throw bad("grid must map setting paths to lists of values") }
            var combos: [[ConfigOverride]] = [[]]
            for (k, v) in map {
                guard let key = k.string, let values = v.sequence, !values.isEmpty else {
                    throw bad("grid: '\(k.string ?? "?")' must have a list of values")
                }
                // every combination is an experiment of hours: refuse a product that could not run (and
                // that would not fit in memory) before making it
                let (n, overflow) = combos.count.multipliedReportingOverflow(by: values.count)
                guard !overflow, n <= maxGridExperiments else {
                    throw bad("grid has more than \(maxGridExperiments) combinations (at '\(key)'); split the sweep")
                }
                let texts = try values.map(flowText)
                combos = combos.flatMap { c in texts.map { c + [ConfigOverride(path: key, value: $0)] } }
            }
            sets += combos
        }
        if let variants {
            guard let list = variants.sequence, !list.isEmpty else { throw bad("variants must be a list of mappings of settings") }
            for (i, v) in list.enumerated() {
                guard let map = v.mapping, !map.isEmpty else { throw bad("variants[\(i)] must be a mapping of settings to values") }
                sets.append(try map.map { k, v in
                    guard let key = k.string else { throw bad("variants[\(i)]: a key is not a setting path") }
                    return ConfigOverride(path: key, value: try flowText(v))
                })
            }
        }
        return sets
    }

    /// A value node as one-line YAML (`8`, `[q_proj, k_proj]`).
    static func flowText(_ node: Node) throws -> String {
        switch node {
        case .scalar(let s): return s.string
        case .sequence(let s): return "[" + (try s.map(flowText)).joined(separator: ", ") + "]"
        case .mapping(let m): return "{" + (try m.map { "\(try flowText($0.key)): \(try flowText($0.value))" }).joined(separator: ", ") + "}"
        case .alias: throw ConfigError(file: "sweep", reason: "aliases are not supported in sweep values")
        }
    }
}

extension Sweep {
    /// How a sweep ended.
    public enum Outcome {
        /// Every experiment was run, skipped as finished or as busy, or only listed (`dryRun`).
        case done
        /// The stop condition ended an experiment at a safe point; rerunning the sweep continues it.
        case stopped(RunStopped)
    }

    /// Runs the experiments one after another: a finished one is skipped, an unfinished one resumes, and one
    /// another process is running (its run folder is locked) is skipped. One base model stays in memory,
    /// reused while consecutive experiments name the same base, quantization and double quantization.
    /// `say` gets a line per experiment (where it stands) and per skip; `scored` each run's split results.
    /// With `dryRun`, only the lines are said.
    ///
    /// With a `communicator` of several ranks (a group of `mpirun -np N autore sweep --ranks-per-experiment k`),
    /// the group runs each experiment together (`ExperimentRunner.run`) and its rank 0 speaks and decides
    /// what is finished; groups, like separate sweeps, skip the experiments another one holds.
    public func run(dataDir: String?, dryRun: Bool = false, stop: StopCondition = .never,
                    communicator comm: Communicator = SingleProcess(),
                    say speak: (String) -> Void = { print($0) }, scored: ([SplitResult]) -> Void = { _ in }) throws -> Outcome {
        func say(_ line: String) { if comm.isLead { speak(line) } }
        var bases: [String: LoadedModel] = [:]
        for (i, e) in experiments.enumerated() {
            // the command that reproduces this experiment alone (what the sweep runs for it)
            let path = e.config
            let runner = try ExperimentRunner(configPath: path, overrides: e.overrides, dataDir: dataDir, command: e.command(config: DataLocation.shown(path)))
            let finished = try comm.agree([comm.isLead && runner.isFinished()])[0]
            let state = finished ? "finished" : "to run (\(runner.progress()))"
            let changed = e.overrides.isEmpty ? "" : " with " + e.overrides.map(\.description).joined(separator: ", ")
            say("[\(i + 1)/\(experiments.count)] \(runner.config.name) (\(DataLocation.shown(path))\(changed)): \(state)")
            if dryRun || finished { continue }
            let c = runner.config
            let key = "\(c.baseModel)|\(c.quantization.rawValue)|\(c.doubleQuantization)"
            let base = try bases[key] ?? LoadedModel(config: c)
            bases = [key: base]   // one base in memory at a time
            do {
                let results = try runner.run(base: base, stop: stop, communicator: comm, say: speak)
                if comm.isLead { scored(results) }
            } catch let busy as RunBusy {
                say("  skipped: \(busy)")   // another sweep runs it
            } catch let s as RunStopped {
                return .stopped(s)
            }
        }
        return .done
    }
}
