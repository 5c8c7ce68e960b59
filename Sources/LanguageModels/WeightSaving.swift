// A model's own weights written back under their HF names (what full fine-tuning produces), and read again
// over a base's config. Not adapters (AdapterInterchange.swift) and not training state (FineTuning).
import Autograd
import Foundation
import ModelFormats
import NeuralNet

extension LlamaModel {
    /// Throws, naming the layer, unless every projection is a dense Float32 weight with no adapter merged
    /// into it: what full fine-tuning trains and what `weightTensors()` writes.
    public func requireDenseWeights() throws {
        for (key, module) in namedModules() {
            guard let l = module as? Linear else { continue }
            guard case .dense = l.weight else {
                throw WeightLoadingError(source: key, reason: "held quantized; full fine-tuning and written weights need Float32 projections (load the base unquantized)")
            }
            if let merged = l.mergedAdapter {
                throw WeightLoadingError(source: key, reason: "adapter '\(merged)' is merged into the weight; unmerge it first")
            }
        }
    }

    /// Every base weight (not LoRA adapters) as F32 safetensors tensors under the HF names transformers
    /// uses, in parameter order. A Gemma norm stores w where the layer computes x̂ ⊙ (1 + w), so 1 is taken
    /// off again (the loader adds it). Throws when a projection is held quantized: only dense weights are
    /// written (a fine-tuned model is dense; a quantized base is already in its file).
    public func weightTensors() throws -> [SafetensorsTensor] {
        try requireDenseWeights()
        let norms = Set(namedModules().filter { $0.1 is NeuralNet.RMSNorm }.map { $0.0.isEmpty ? "weight" : $0.0 + ".weight" })
        return baseParameters().map { key, p in
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

    /// A model of its own with this one's config and a copy of its own weights (not its adapters), so that
    /// training one does not change the other. Dense weights only, as `weightTensors()`.
    public func copy() throws -> LlamaModel {
        try LlamaModel.load(config: config, weights: TensorWeights(try weightTensors(), path: "copy of a model in memory"))
    }
}

/// Tensors in memory under their HF names, read as a checkpoint.
public final class TensorWeights: WeightSource {
    public let path: String
    let tensors: [String: SafetensorsTensor]
    public let names: [String]
    public init(_ tensors: [SafetensorsTensor], path: String) {
        self.path = path
        names = tensors.map(\.name)
        self.tensors = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }
    public func shape(_ name: String) -> [Int]? { tensors[name]?.shape }
    public func floats(_ name: String) throws -> [Float] {
        guard let t = tensors[name] else { throw WeightLoadingError(source: path, reason: "no tensor \(name)") }
        return t.values
    }
}
