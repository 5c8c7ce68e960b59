// A fully fine-tuned model as a run folder keeps it (`fine_tuning: full`): `best/model.safetensors` at the
// best evaluation and `final/model.safetensors` at the last step, every weight under its HF name, with the
// step and the run's config in the file's metadata; and how to load it over its base. Not adapters
// (StageAdapters) and not the optimizer state (checkpoint.h5).
import Foundation
import LanguageModels
import ModelFormats

public enum FineTunedModel {
    /// The weights to use from a run folder: `best/` (the best evaluation), else `final/` (the last step);
    /// looked for in `dir` and in its `all/` stage folder. nil when `dir` holds no fine-tuned weights.
    public static func directory(in dir: String) -> String? {
        for folder in [dir, dir + "/all"] {
            for kept in ["best", "final"] where FileManager.default.fileExists(atPath: "\(folder)/\(kept)/model.safetensors") {
                return "\(folder)/\(kept)"
            }
        }
        return nil
    }

    /// Writes `model`'s weights to `directory/model.safetensors`, with the step and the config text it was
    /// trained under in the metadata.
    public static func save(_ model: LlamaModel, to directory: String, step: Int, config: String) throws {
        try model.writeWeights(to: directory, metadata: ["autore.trains": "all", "autore.step": String(step), "autore.config": config])
    }

    /// What a saved model's metadata says: the step and the config text.
    public static func info(_ directory: String) throws -> (step: Int, config: String) {
        let path = directory + "/model.safetensors"
        let file = try SafetensorsFile(path: path)
        guard file.metadata["autore.trains"] == "all", let step = file.metadata["autore.step"].flatMap(Int.init),
              let config = file.metadata["autore.config"] else {
            throw AutoREError("\(path): not a model written by a fine_tuning: full run (its metadata names no step and config)")
        }
        return (step, config)
    }

    /// The model of `directory` over `base` (its config and tokenizer): every weight read from the file.
    public static func load(_ directory: String, over base: LoadedModel) throws -> LoadedModel {
        let model = try LlamaModel.load(config: base.model.config, weights: SafetensorsWeights(directory: directory))
        return LoadedModel(path: base.path, model: model, tokenizer: base.tokenizer)
    }

    /// The model of `directory` over the base model `baseModel` names (nil, "smollm2", "gemma3" or a path):
    /// the architecture and tokenizer are read from the base, its weights are not (every weight comes from
    /// the file).
    public static func load(_ directory: String, baseModel: String?) throws -> LoadedModel {
        let path = try ModelLocation.resolve(baseModel)
        let model = try LlamaModel.load(config: try LlamaModel.config(at: path), weights: SafetensorsWeights(directory: directory))
        return LoadedModel(path: path, model: model, tokenizer: try ModelLocation.tokenizer(at: path))
    }
}
