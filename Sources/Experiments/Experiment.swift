// An experiment brought to life from its config: documents of each split, the paradigm builder, the
// base model with the run's adapter, and the run folder where everything it writes lives.
// Not the command line (autore) and not the training loop (FineTuning).
import DocRE
import FineTuning
import Foundation
import LanguageModels
import NeuralNet
import RHF
import Tokenization

/// The run folder: `Experiments/runs/<name>/` unless given. Holds the config, metrics.jsonl, checkpoints
/// and the exported adapter.
public struct RunDirectory {
    public let url: URL
    public init(_ url: URL) { self.url = url }
    public static func forExperiment(_ name: String, root: URL = DataLocation.root) -> RunDirectory {
        RunDirectory(root.appendingPathComponent("Experiments/runs/\(name)"))
    }
    public var path: String { url.path }
    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }
    public func create() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
}

/// A process's exclusive claim on a run folder while it trains or extracts there: `flock` on `<run>/.lock`,
/// released when the claim is dropped or the process ends, however it ends (a killed run leaves no stale
/// claim). Two sweeps over the same configs share the work this way instead of writing one run twice.
///
///     let lock = try RunLock(run)          // throws RunBusy when another process holds the folder
///     defer { lock.release() }
public final class RunLock {
    private var fd: Int32
    public let path: String

    public init(_ run: RunDirectory) throws {
        try run.create()
        path = run.file(".lock")
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AutoREError("\(path): cannot open the run lock (\(String(cString: strerror(errno))))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw RunBusy(run: run.path, holder: holder?.isEmpty == false ? holder! : "unknown process")
        }
        let owner = "pid \(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = owner.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    public func release() {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}

/// Another process holds the run folder (see `RunLock`).
public struct RunBusy: Error, CustomStringConvertible {
    public var run: String
    public var holder: String
    public var description: String { "\(run) is in use by another process (\(holder)); wait for it to finish or stop it" }
}

/// Everything a config names, loaded.
public final class Experiment {
    public let config: ExperimentConfig
    public let builder: ParadigmBuilder
    public let loader: SplitLoader
    /// The relations training never sees (`data.held_out_relations`, resolved to canonical names); empty
    /// when the config holds none out.
    public let heldOutRelations: [String]

    /// `requireData: false` lets raw-text extraction run without Re-DocRED (the standard catalogue is used).
    public init(config: ExperimentConfig, dataDir: String? = nil, requireData: Bool = true) throws {
        self.config = config
        let found = SplitLoader(dataDir: dataDir)
        guard let loader = found ?? (requireData ? nil : SplitLoader(directory: URL(fileURLWithPath: "/nonexistent"))) else {
            throw ConfigError(file: "data", reason: "Re-DocRED not found (run `bash Scripts/setup`, or set AUTORE_DATA)")
        }
        self.loader = loader
        let catalogue = found == nil ? RelationCatalogue.standard : try loader.catalogue()
        do {
            switch config.data.heldOutRelations {
            case nil: heldOutRelations = []
            case .named(let names)?: heldOutRelations = try HeldOutRelations.resolve(names, catalogue: catalogue)
            case let .auto(k, seed)?:
                let train = try SplitDocuments(try SplitSlice(parsing: config.data.train), loader: loader).documents
                heldOutRelations = try HeldOutRelations.auto(k, seed: seed, training: train, catalogue: catalogue)
            }
        } catch let e as DocREError {
            throw ConfigError(file: config.name, reason: "data.held_out_relations: \(e)")
        }
        builder = try ParadigmBuilder(
            paradigm: config.paradigm, catalogue: catalogue,
            descriptions: try RelationDescriptions.load(config.descriptions ?? config.paradigm.defaultDescriptions, dataDir: dataDir),
            options: ParadigmOptions(descriptions: config.descriptions, order: config.promptOrder,
                                     augmentCopies: config.augmentation, seed: config.training.seed,
                                     aliasExpansion: config.aliasExpansion, heldOutRelations: Set(heldOutRelations)))
    }

    /// What this config's adapter answers: its stage, or every stage (a per-stage layout trains each stage
    /// in an adapter run of its own, whose config names that stage: `adapterRuns`).
    public var adapterScope: AdapterScope {
        if case .single(let s) = config.adapterLayout { return .stage(s) }
        return .allStages
    }

    /// The stages this config's adapter answers.
    public var stages: Set<Stage> { adapterScope.stages(of: config.paradigm) }

    /// The adapter's name: the stage it answers, or `all`.
    public var adapterName: String { adapterScope.rawValue }

    public func documents(_ split: String) throws -> SplitDocuments {
        try SplitDocuments(try SplitSlice(parsing: split), loader: loader)
    }

    /// Gold (prefix, question, answer) examples of the adapter's stages over `documents`.
    public func examples(_ documents: [Document]) throws -> [StageExample] {
        try documents.flatMap { try builder.examples(for: $0, stages: stages) }
    }
}
