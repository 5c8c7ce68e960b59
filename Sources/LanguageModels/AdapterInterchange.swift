// A model's named LoRA adapter to and from PEFT's format (ModelFormats.PEFTAdapter), strictly: every
// tensor must land on a layer of the right shape and every targeted layer must get one. Not a trainer.
import Autograd
import Foundation
import ModelFormats
import NeuralNet
import Support

/// Why an adapter could not move between the model and a PEFT adapter, naming the adapter and the tensor.
public struct AdapterInterchangeError: Error, CustomStringConvertible, Equatable {
    public var adapter: String
    public var reason: String
    public var description: String { "adapter '\(adapter)': \(reason)" }
}

extension LlamaModel {
    /// Adapter `name` as a PEFT adapter. `config` is what the adapter was created with (LoRA keeps only
    /// rank and scale); it must describe the adapter: the same rank and scale, and its targets must be
    /// exactly the layers that carry `name`.
    ///
    ///     let peft = try model.exportAdapter("relations", config: cfg.lora.loraConfig, baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct")
    ///     try peft.write(to: "exported/relations")
    public func exportAdapter(_ name: String, config: LoRAConfig, baseModel: String) throws -> PEFTAdapter {
        func fail(_ r: String) -> AdapterInterchangeError { AdapterInterchangeError(adapter: name, reason: r) }
        var modules: [String: PEFTAdapter.Matrices] = [:]
        let targeted = Set(linearLayers(matching: config.targets).map(\.0))
        for (key, m) in namedModules() {
            guard let l = m as? Linear, let lora = l.adapters[name] else { continue }
            guard targeted.contains(key) else { throw fail("layer \(key) carries the adapter but is not in the targets \(config.targets)") }
            guard lora.rank == config.rank, lora.scale == config.scale else {
                throw fail("layer \(key) has rank \(lora.rank) and scale \(lora.scale); the config says rank \(config.rank), scale \(config.scale)")
            }
            modules[key] = PEFTAdapter.Matrices(a: FloatArray(shape: lora.a.shape, values: lora.a.value.scalars),
                                                b: FloatArray(shape: lora.b.shape, values: lora.b.value.scalars))
        }
        guard !modules.isEmpty else { throw fail("no layer carries this adapter") }
        if let missing = targeted.subtracting(modules.keys).sorted().first {
            throw fail("layer \(missing) is targeted by \(config.targets) but carries no such adapter")
        }
        return PEFTAdapter(lora: config, baseModel: baseModel, modules: modules)
    }

    /// Adds adapter `name` shaped by `adapter`'s config to every layer it targets and sets A and B from
    /// the file (replacing an adapter of that name). Everything is checked before anything changes: a
    /// tensor for a layer the model lacks, a targeted layer without tensors, or a shape that does not
    /// fit the layer is an error naming the tensor. The adapter is added inactive, as `addAdapter` does.
    ///
    ///     try model.importAdapter(PEFTAdapter(directory: "peft/relations"), as: "relations")
    ///     model.activateAdapter("relations")
    public func importAdapter(_ adapter: PEFTAdapter, as name: String) throws {
        func fail(_ r: String) -> AdapterInterchangeError { AdapterInterchangeError(adapter: name, reason: r) }
        let layers = linearLayers(matching: adapter.lora.targets)
        let byKey = Dictionary(uniqueKeysWithValues: layers)
        for module in adapter.modules.keys.sorted() where byKey[module] == nil {
            let t = PEFTAdapter.tensorName(module: module, matrix: "A")
            throw fail("tensor '\(t)' is for \(module), which this model does not have as a targeted linear layer")
        }
        guard !layers.isEmpty else { throw fail("no linear layer of the model matches target_modules \(adapter.lora.targets)") }
        let r = adapter.lora.rank
        for (key, l) in layers {
            guard let m = adapter.modules[key] else {
                throw fail("layer \(key) is targeted by \(adapter.lora.targets) but the adapter has no tensor '\(PEFTAdapter.tensorName(module: key, matrix: "A"))'")
            }
            guard m.a.shape == [r, l.inFeatures] else {
                throw fail("tensor '\(PEFTAdapter.tensorName(module: key, matrix: "A"))' has shape \(m.a.shape); the layer needs \([r, l.inFeatures])")
            }
            guard m.b.shape == [l.outFeatures, r] else {
                throw fail("tensor '\(PEFTAdapter.tensorName(module: key, matrix: "B"))' has shape \(m.b.shape); the layer needs \([l.outFeatures, r])")
            }
            if l.mergedAdapter == name { throw fail("layer \(key) has '\(name)' merged into its weight; unmerge it first") }
        }
        var g = SplitMix64(seed: 0)       // only seeds dropout; A and B come from the file
        for (key, l) in layers {
            let m = adapter.modules[key]!
            try l.addAdapter(name, rank: r, scale: adapter.lora.scale, dropout: adapter.lora.dropout, generator: &g)
            let lora = l.adapters[name]!
            lora.a.value = try Tensor(m.a.values, shape: m.a.shape, requiresGrad: true)
            lora.b.value = try Tensor(m.b.values, shape: m.b.shape, requiresGrad: true)
        }
    }

    /// Writes adapter `name` as a PEFT adapter folder (atomically; see `PEFTAdapter.write(to:)`).
    public func saveAdapter(_ name: String, config: LoRAConfig, baseModel: String, to directory: String) throws {
        try exportAdapter(name, config: config, baseModel: baseModel).write(to: directory)
    }

    /// Reads a PEFT adapter folder into adapter `name`; returns what it read.
    @discardableResult
    public func loadAdapter(from directory: String, as name: String) throws -> PEFTAdapter {
        let adapter = try PEFTAdapter(directory: directory)
        do { try importAdapter(adapter, as: name) } catch let e as AdapterInterchangeError {
            throw PEFTAdapterError(path: directory, reason: e.description)
        }
        return adapter
    }
}

extension PEFTAdapter {
    /// A PEFT adapter from weights under the in-memory names of adapter `name`
    /// (`model.layers.0.self_attn.q_proj.lora_A.<name>.weight`, as a trainer checkpoint stores them under
    /// `adapter/`), without a model. Every key must be an A or B of `name`, and every module needs both.
    ///
    ///     let weights = ckpt.floats.filter { $0.key.hasPrefix("adapter/") }   // keys without "adapter/"
    ///     let peft = try PEFTAdapter(weights: weights, adapter: "relations", lora: cfg.lora.loraConfig, baseModel: "…")
    public init(weights: [String: FloatArray], adapter name: String, lora: LoRAConfig, baseModel: String?) throws {
        func fail(_ r: String) -> AdapterInterchangeError { AdapterInterchangeError(adapter: name, reason: r) }
        var a: [String: FloatArray] = [:], b: [String: FloatArray] = [:]
        for (key, value) in weights {
            if key.hasSuffix(".lora_A.\(name).weight") { a[String(key.dropLast(".lora_A.\(name).weight".count))] = value }
            else if key.hasSuffix(".lora_B.\(name).weight") { b[String(key.dropLast(".lora_B.\(name).weight".count))] = value }
            else { throw fail("'\(key)' is not lora_A.\(name).weight or lora_B.\(name).weight of a layer") }
        }
        for m in Set(a.keys).symmetricDifference(b.keys).sorted() {
            throw fail("\(m).lora_\(a[m] == nil ? "A" : "B").\(name).weight is missing (its partner is present)")
        }
        guard !a.isEmpty else { throw fail("no weights") }
        self.init(lora: lora, baseModel: baseModel, modules: Dictionary(uniqueKeysWithValues: a.map { ($0.key, Matrices(a: $0.value, b: b[$0.key]!)) }))
        do { try validate(path: "adapter '\(name)'") } catch let e as PEFTAdapterError { throw fail(e.reason) }
    }
}
