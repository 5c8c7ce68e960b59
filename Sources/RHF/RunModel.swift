// What answers a trained run's questions, read from its folder: one fully fine-tuned model
// (`fine_tuning: full`; best/ or final/model.safetensors answers every stage), or stage adapters over the
// base model (PEFT folders, best.h5 or adapter.h5; RunAdapters). Extraction, error propagation and the
// experiment runner all open runs this way.
import DocRE
import LanguageModels

public enum RunModel {
    /// A fully fine-tuned model: the folder of its model.safetensors, the step it was kept at and the
    /// config text it was trained under.
    case fineTuned(directory: String, step: Int, config: String)
    /// Stage adapters, each with its stage, step and stored config.
    case adapters([TrainedAdapter])

    /// The run of `dirs`: one folder holding a fine-tuned model (in it or in its `all/` folder), else adapter
    /// folders (each an adapter or a folder of stage adapters; see `RunAdapters.load`).
    public static func open(_ dirs: [String]) throws -> RunModel {
        if dirs.count == 1, let dir = FineTunedModel.directory(in: dirs[0]) {
            let info = try FineTunedModel.info(dir)
            return .fineTuned(directory: dir, step: info.step, config: info.config)
        }
        return .adapters(try RunAdapters.load(dirs))
    }

    public var isFineTuned: Bool {
        if case .fineTuned = self { return true }
        return false
    }

    /// The config text the run was trained under (of its first adapter), and the file it was read from.
    public var storedConfig: (text: String, source: String) {
        switch self {
        case let .fineTuned(directory, _, config): return (config, directory + "/model.safetensors (stored config)")
        case let .adapters(a): return (a[0].config, a[0].source + " (stored config)")
        }
    }

    /// The optimizer step of each part, by adapter scope (`all` for a fine-tuned model).
    public var steps: [String: Int] {
        switch self {
        case let .fineTuned(_, step, _): return [AdapterScope.allStages.rawValue: step]
        case let .adapters(a): return Dictionary(a.map { ($0.stage.rawValue, $0.step) }) { first, _ in first }
        }
    }

    /// Who answers, for a note: "adapters of <folder> (step all 2000)", or "the fine-tuned model of <folder> (step 900)".
    public func described(folder: String) -> String {
        switch self {
        case let .fineTuned(_, step, _): return "the fine-tuned model of \(folder) (step \(step))"
        case let .adapters(a): return "adapters of \(folder) (step \(a.map { "\($0.stage) \($0.step)" }.joined(separator: ", ")))"
        }
    }

    /// The model that answers, and which adapter answers each stage of `paradigm`. A fine-tuned model answers
    /// every stage with no adapter (the map is empty): its weights are read over the base's architecture and
    /// tokenizer, from the model in memory or from the base's file (whose weights are then not read at all).
    /// Adapters are installed on the base, in memory or loaded as the run's config says; `extra` adapters
    /// (another run's, for the stages this one does not answer) beside them. With `requireAll: false`, a stage
    /// no adapter answers is left to the bare base.
    public func load(base: BaseModelSource, paradigm: Paradigm, extra: [TrainedAdapter] = [],
                     requireAll: Bool = true) throws -> (model: LoadedModel, stages: [Stage: String]) {
        switch (self, base) {
        case let (.fineTuned(directory, _, _), .inMemory(model)):
            return (try FineTunedModel.load(directory, over: model), [:])
        case let (.fineTuned(directory, _, _), .file(name, _)):
            return (try FineTunedModel.load(directory, baseModel: name), [:])
        case let (.adapters(a), _):
            let model = try base.loaded()
            return (model, try RunAdapters.install(a + extra, on: model.model, paradigm: paradigm, requireAll: requireAll))
        }
    }
}

/// Where a run's base model comes from: already in memory, or its file (the name a config gives: nil,
/// "smollm2", "gemma3" or a path) with how to load it when its weights are needed.
public enum BaseModelSource {
    case inMemory(LoadedModel)
    case file(String?, load: () throws -> LoadedModel)

    /// The base with its weights: the one in memory, or loaded now.
    func loaded() throws -> LoadedModel {
        switch self {
        case .inMemory(let model): return model
        case .file(_, let load): return try load()
        }
    }
}
