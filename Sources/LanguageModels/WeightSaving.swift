// A model's own weights written back under their HF names (what full fine-tuning produces), and read again
// over a base's config. Not adapters (AdapterInterchange.swift) and not training state (FineTuning).
import Autograd
import Foundation
import ModelFormats
import NeuralNet

extension LlamaModel {
    /// Every base weight (not LoRA adapters) as F32 safetensors tensors under the HF names transformers
    /// uses, in parameter order. A Gemma norm stores w where the layer computes x̂ ⊙ (1 + w), so 1 is taken
    /// off again (the loader adds it). Throws when a projection is held quantized: only dense weights are
    /// written (a fine-tuned model is dense; a quantized base is already in its file).
    public func weightTensors() throws -> [SafetensorsTensor] {
        var norms = Set<String>()
        for (key, module) in namedModules() {
            if module is NeuralNet.RMSNorm { norms.insert(key.isEmpty ? "weight" : key + ".weight") }
            if let l = module as? Linear {
                guard case .dense = l.weight else {
                    throw WeightLoadingError(source: key, reason: "held quantized; only dense weights are written")
                }
                if let merged = l.mergedAdapter {
                    throw WeightLoadingError(source: key, reason: "adapter '\(merged)' is merged into the weight; unmerge it first")
                }
            }
        }
        return namedParameters().filter { !$0.0.contains(".lora_A.") && !$0.0.contains(".lora_B.") }.map { key, p in
            var values = p.value.scalars
            if config.normAddsOne && norms.contains(key) { values = values.map { $0 - 1 } }
            return SafetensorsTensor(name: key, shape: p.shape, values: values)
        }
    }

    /// Writes `weightTensors()` to `directory/model.safetensors` (atomically; the folder is made if needed).
    ///
    ///     try model.writeWeights(to: "runs/full/model")
    ///     let again = try LlamaModel.load(config: model.config, weights: SafetensorsWeights(directory: "runs/full/model"))
    public func writeWeights(to directory: String, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try SafetensorsWriter.write(try weightTensors(), metadata: metadata, to: directory + "/model.safetensors")
    }
}
