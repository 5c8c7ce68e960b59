// Trained adapters as a run folder keeps them (`adapter.h5` at the end, `best.h5` at the best evaluation):
// HDF5 files with the LoRA weights, the LoRA shape and the stage they answer, and how to put them on a
// base model under any name. Not the optimizer state (checkpoint.h5) and not PEFT's folder format.
import Autograd
import DocRE
import Foundation
import LanguageModels
import ModelFormats
import NeuralNet
import Support

/// One trained adapter: the stage it answers (`relations`, `heads`, `facts` or `all`), its LoRA shape
/// and its weights under the model's keys with the adapter name left out (`…q_proj.lora_A.weight`).
///
///     let a = try TrainedAdapter(contentsOf: "Experiments/runs/main_rhf/heads/best.h5")
///     try a.install(on: model, as: "heads")
public struct TrainedAdapter {
    public var stage: AdapterScope
    public var lora: LoRAConfig
    public var weights: [String: FloatArray]
    /// The experiment config (YAML) the adapter was trained with, and the optimizer step it was taken at.
    public var config: String
    public var step: Int
    public var source: String

    public init(stage: AdapterScope, lora: LoRAConfig, weights: [String: FloatArray], config: String, step: Int, source: String = "") {
        self.stage = stage; self.lora = lora; self.weights = weights; self.config = config; self.step = step; self.source = source
    }

    /// The adapter named `name` of `model`, as it is now.
    public init(model: LlamaModel, adapter name: String, stage: AdapterScope, lora: LoRAConfig, config: String, step: Int) {
        var w: [String: FloatArray] = [:]
        for (key, p) in model.adapterParameters(name) {
            w[Self.generic(key, adapter: name)] = FloatArray(shape: p.shape, values: p.value.scalars)
        }
        self.init(stage: stage, lora: lora, weights: w, config: config, step: step)
    }

    /// `…lora_A.<name>.weight` → `…lora_A.weight` (PEFT's naming).
    static func generic(_ key: String, adapter name: String) -> String {
        key.replacingOccurrences(of: ".lora_A.\(name).", with: ".lora_A.").replacingOccurrences(of: ".lora_B.\(name).", with: ".lora_B.")
    }

    public init(contentsOf path: String) throws {
        let c = try Checkpoint(contentsOf: path)
        func fail(_ r: String) -> CheckpointError { CheckpointError(path: path, reason: r) }
        guard let stageName = c.strings["stage"], let loraJSON = c.strings["lora"] else {
            throw fail("not an adapter file (no stage or lora entry); a trainer checkpoint.h5 is read with --resume")
        }
        guard let stage = AdapterScope(rawValue: stageName) else { throw fail("unknown stage '\(stageName)' (relations, heads, facts or all)") }
        guard let lora = try? JSONDecoder().decode(LoRAConfig.self, from: Data(loraJSON.utf8)) else { throw fail("unreadable lora entry") }
        var w: [String: FloatArray] = [:]
        for (k, v) in c.floats where k.hasPrefix("lora/") { w[String(k.dropFirst(5))] = v }
        guard !w.isEmpty else { throw fail("holds no adapter weights") }
        self.init(stage: stage, lora: lora, weights: w, config: c.strings["config"] ?? "", step: Int(c.integers["step"] ?? 0), source: path)
    }

    /// What `autore.json` holds beside a PEFT adapter folder.
    struct Sidecar: Codable { var stage: AdapterScope; var step: Int; var config: String }

    /// The adapter in PEFT's format (keys `base_model.model.<layer>.lora_A.weight`).
    public func peft(baseModel: String?) throws -> PEFTAdapter {
        var modules: [String: PEFTAdapter.Matrices] = [:]
        for (k, a) in weights where k.hasSuffix(".lora_A.weight") {
            let m = String(k.dropLast(".lora_A.weight".count))
            guard let b = weights[m + ".lora_B.weight"] else { throw AutoREError("\(source): \(m) has lora_A but no lora_B") }
            modules[m] = PEFTAdapter.Matrices(a: a, b: b)
        }
        return PEFTAdapter(lora: lora, baseModel: baseModel, modules: modules)
    }

    /// Writes a PEFT adapter folder (loadable by `PeftModel.from_pretrained`) with `autore.json` beside the
    /// PEFT files, naming the stage, the step and the run's config.
    public func writePEFT(to directory: String, baseModel: String?) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        // in the same folder swap as the PEFT files, so the adapter is never in place without it
        try peft(baseModel: baseModel).write(to: directory, extraFiles: [
            PEFTAdapter.sidecarFile: try enc.encode(Sidecar(stage: stage, step: step, config: config)),
        ])
    }

    /// A PEFT adapter folder; `autore.json` beside it names the stage (else the folder's name must be a stage).
    public init(peftDirectory dir: String) throws {
        let p = try PEFTAdapter(directory: dir)
        var w: [String: FloatArray] = [:]
        for (m, x) in p.modules { w[m + ".lora_A.weight"] = x.a; w[m + ".lora_B.weight"] = x.b }
        let sidecarPath = URL(fileURLWithPath: dir).appendingPathComponent(PEFTAdapter.sidecarFile).path
        if let data = FileManager.default.contents(atPath: sidecarPath) {
            guard let s = try? JSONDecoder().decode(Sidecar.self, from: data) else { throw AutoREError("\(sidecarPath): unreadable") }
            self.init(stage: s.stage, lora: p.lora, weights: w, config: s.config, step: s.step, source: dir)
        } else {
            let name = URL(fileURLWithPath: dir).lastPathComponent
            guard let scope = AdapterScope(rawValue: name) else {
                throw AutoREError("\(dir): a PEFT adapter without \(PEFTAdapter.sidecarFile); name its folder after the stage it answers (relations, heads, facts or all)")
            }
            self.init(stage: scope, lora: p.lora, weights: w, config: "", step: 0, source: dir)
        }
    }

    public func save(to path: String) throws {
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        var c = Checkpoint()
        for (k, v) in weights { c.floats["lora/" + k] = v }
        c.strings["stage"] = stage.rawValue
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        c.strings["lora"] = String(decoding: try enc.encode(lora), as: UTF8.self)
        c.strings["config"] = config
        c.integers["step"] = Int64(step)
        try c.save(to: path)
    }

    /// Adds adapter `name` to `model` with these weights. Strict: a weight the model has no place for, a
    /// targeted layer without weights, or a shape that differs is an error naming the key.
    public func install(on model: LlamaModel, as name: String) throws {
        try model.removeAdapter(name)
        try model.addAdapter(name, config: lora, seed: 0)
        try copyWeights(into: model, adapter: name)
    }

    /// Sets the weights of `model`'s existing adapter `name` to these (training continues from them). Its
    /// LoRA shape must be this adapter's: rank, scale (alpha, rsLoRA) and targets (dropout may differ); strict as `install`.
    public func start(_ model: LlamaModel, adapter name: String, config other: LoRAConfig) throws {
        guard other.rank == lora.rank, other.scale == lora.scale, Set(other.targets) == Set(lora.targets) else {
            throw AutoREError("\(source): the adapter has rank \(lora.rank), alpha \(lora.alpha), targets \(lora.targets.sorted().joined(separator: ",")); this run's lora is rank \(other.rank), alpha \(other.alpha), targets \(other.targets.sorted().joined(separator: ",")); training.init_from needs the same shape")
        }
        try copyWeights(into: model, adapter: name)
    }

    func copyWeights(into model: LlamaModel, adapter name: String) throws {
        var unused = Set(weights.keys)
        for (key, p) in model.adapterParameters(name) {
            let g = Self.generic(key, adapter: name)
            guard let w = weights[g] else { throw AutoREError("\(source): no weights for \(g)") }
            guard w.shape == p.shape else { throw AutoREError("\(source): \(g) has shape \(w.shape), the model wants \(p.shape)") }
            p.value = try Tensor(w.values, shape: w.shape, requiresGrad: true)
            unused.remove(g)
        }
        if let extra = unused.sorted().first {
            throw AutoREError("\(source): \(extra) names no layer of the model (\(unused.count) unused weights)")
        }
    }
}

/// The adapters of run folders, by stage. A folder is an adapter run (it holds `adapter.h5` or `best.h5`)
/// or an experiment run whose subfolders are (`stage: each`).
public enum RunAdapters {
    /// The adapters that ship with the toolkit: the main RHF run on SmolLM2 (`Data/adapters/smollm2-rhf/`),
    /// what `autore extract` decodes with when given no run.
    public static var shipped: String { shipped(for: "smollm2") }

    /// The shipped adapters over base model `base` (a config's `base_model`: a name, or a model file, named
    /// by its file name without extension): `Data/adapters/<name>-rhf/`, stage folders (relations, heads,
    /// facts) or one `all/` adapter answering every stage. SmolLM2's are main_rhf's three; Gemma 3's is
    /// gemma_all_r10's one.
    public static func shipped(for base: String) -> String {
        let name = URL(fileURLWithPath: base).deletingPathExtension().lastPathComponent
        return DataLocation.projectData.appendingPathComponent("adapters/\(name)-rhf").path
    }

    /// The folder a finished adapter run keeps its adapter in, in PEFT's format with `autore.json`.
    public static let keptFolder = "peft"

    /// The file to use from one adapter run: best.h5 (the best evaluation), else adapter.h5 (the last step).
    public static func file(in dir: String) -> String? {
        for f in ["best.h5", "adapter.h5"] where FileManager.default.fileExists(atPath: dir + "/" + f) { return dir + "/" + f }
        return nil
    }

    static func isPEFT(_ dir: String) -> Bool {
        FileManager.default.fileExists(atPath: dir + "/" + PEFTAdapter.configFile)
    }

    static func adapter(in dir: String) throws -> TrainedAdapter? {
        if isPEFT(dir) { return try TrainedAdapter(peftDirectory: dir) }
        if isPEFT(dir + "/" + keptFolder) { return try TrainedAdapter(peftDirectory: dir + "/" + keptFolder) }
        return try file(in: dir).map { try TrainedAdapter(contentsOf: $0) }
    }

    /// What a finished adapter run keeps: the adapter extraction uses (best.h5, else adapter.h5) written as a
    /// PEFT folder, `peft/`, in place of both HDF5 files. Nothing happens in a folder without them.
    public static func keepAsPEFT(in dir: String, baseModel: String) throws {
        guard let path = file(in: dir) else { return }
        try TrainedAdapter(contentsOf: path).writePEFT(to: dir + "/" + keptFolder, baseModel: baseModel)
        for f in ["best.h5", "adapter.h5"] where FileManager.default.fileExists(atPath: dir + "/" + f) {
            try FileManager.default.removeItem(atPath: dir + "/" + f)
        }
    }

    /// The adapters of `dirs`: each an adapter (PEFT folder, or a run folder with peft/, best.h5 or adapter.h5), or a
    /// folder whose stage subfolders (relations, heads, facts, all) are.
    public static func load(_ dirs: [String]) throws -> [TrainedAdapter] {
        var out: [TrainedAdapter] = []
        for dir in dirs {
            guard FileManager.default.fileExists(atPath: dir) else { throw AutoREError("\(dir): no such folder") }
            if let a = try adapter(in: dir) { out.append(a); continue }
            let subs = AdapterScope.allCases.map { dir + "/" + $0.rawValue }
                .filter { isPEFT($0) || isPEFT($0 + "/" + keptFolder) || file(in: $0) != nil }
            guard !subs.isEmpty else {
                throw AutoREError("\(dir): no trained adapter here (a PEFT folder, best.h5 or adapter.h5, or stage folders holding one); train it first")
            }
            out += try subs.compactMap { try adapter(in: $0) }
        }
        var seen = Set<AdapterScope>()
        for a in out where !seen.insert(a.stage).inserted { throw AutoREError("two adapters answer the stage '\(a.stage)' (\(a.source))") }
        return out
    }

    /// Installs `adapters` on `model` (named after their stage) and says which answers each stage of `paradigm`.
    /// With `requireAll: false`, a stage no adapter answers is left out of the map (the bare base answers it).
    public static func install(_ adapters: [TrainedAdapter], on model: LlamaModel, paradigm: Paradigm,
                               requireAll: Bool = true) throws -> [Stage: String] {
        var map: [Stage: String] = [:]
        for a in adapters {
            try a.install(on: model, as: a.stage.rawValue)
            switch a.stage {
            case .allStages: for s in paradigm.stages where map[s] == nil { map[s] = a.stage.rawValue }
            case .stage(let s): map[s] = a.stage.rawValue
            }
        }
        if requireAll, let missing = paradigm.stages.first(where: { map[$0] == nil }) {
            throw AutoREError("no adapter answers the \(missing.rawValue) stage of \(paradigm.rawValue) (have: \(adapters.map(\.stage.rawValue).joined(separator: ", ")))")
        }
        return map
    }
}
