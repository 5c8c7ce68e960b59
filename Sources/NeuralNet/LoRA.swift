// Low-rank adapters (Hu et al., "LoRA", arXiv 2106.09685) on any Linear, by name, several per layer
// with one active: the three RHF stages share one frozen base. Not PEFT's file format (ModelFormats).
import Autograd
import Foundation

/// Which layers get adapters and how they are shaped.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    /// Last component of the layer names to adapt: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
    public var targets: [String]
    /// Scale alpha/√r (rsLoRA, Kalajdzievski 2023) instead of alpha/r.
    public var rsLoRA: Bool

    public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0.05, targets: [String] = ["q_proj", "v_proj"], rsLoRA: Bool = false) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets; self.rsLoRA = rsLoRA
    }

    public var scale: Float { rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }
    public static let allProjections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
}

/// Δy = scale · (dropout(x)·Aᵀ)·Bᵀ      x: (…, in)   A: (r, in)   B: (out, r)   →   (…, out)
///
/// Initialised as PEFT does: A ~ U(−1/√in, 1/√in) (kaiming-uniform with a = √5), B = 0, so a new
/// adapter leaves the layer's output unchanged.
///
///     try model.addAdapter("relations", config: LoRAConfig(rank: 16), seed: 1)
///     linear.activeAdapter = "relations"
public final class LoRA: UnaryLayer {
    @Child("lora_A.weight") public var a: Parameter
    @Child("lora_B.weight") public var b: Parameter
    @Child("dropout") public var dropout: Dropout?
    public let rank: Int
    public let scale: Float

    public init(inFeatures: Int, outFeatures: Int, rank: Int, scale: Float, dropout p: Float, generator: inout SplitMix64) {
        self.rank = rank
        self.scale = scale
        let bound = 1 / Float(inFeatures).squareRoot()
        a = Parameter(Tensor.uniform([rank, inFeatures], low: -bound, high: bound, generator: &generator))
        b = Parameter(Tensor.zeros([outFeatures, rank]))
        dropout = p > 0 ? Dropout(p: p, seed: generator.next()) : nil
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try dropout.map { try $0(x) } ?? x
        return try matmul(matmul(h, a.value, transposeB: true), b.value, transposeB: true) * scale
    }

    /// scale · B·A   (out, in): the change this adapter makes to the weight.
    public func weightDelta() throws -> Tensor {
        try withNoGrad { try matmul(b.value, a.value) * scale }
    }
}

extension Linear {
    /// Parameters of the base layer, then of every adapter under PEFT's in-memory names
    /// (`lora_A.<adapter>.weight`, `lora_B.<adapter>.weight`), adapters in name order.
    public func namedParameters(prefix: String) -> [(String, Parameter)] {
        var out = children().flatMap { $0.1.namedParameters(prefix: join(prefix, $0.0)) }
        for name in adapters.keys.sorted() {
            let lora = adapters[name]!
            out.append((join(prefix, "lora_A.\(name).weight"), lora.a))
            out.append((join(prefix, "lora_B.\(name).weight"), lora.b))
        }
        return out
    }
    public func namedModules(prefix: String) -> [(String, any Module)] {
        [(prefix, self)] + adapters.keys.sorted().flatMap { adapters[$0]!.namedModules(prefix: join(prefix, "lora.\($0)")) }
    }

    /// Adds (or replaces) an adapter named `name`; it does not become active.
    public func addAdapter(_ name: String, rank: Int, scale: Float, dropout: Float, generator: inout SplitMix64) throws {
        guard rank > 0 else { throw TensorError("Linear.addAdapter: rank \(rank) must be positive") }
        guard mergedAdapter != name else { throw TensorError("Linear.addAdapter: '\(name)' is merged; unmerge it first") }
        adapters[name] = LoRA(inFeatures: inFeatures, outFeatures: outFeatures, rank: rank, scale: scale,
                              dropout: dropout, generator: &generator)
    }

    public func removeAdapter(_ name: String) throws {
        if mergedAdapter == name { try unmerge() }
        adapters[name] = nil
        if activeAdapter == name { activeAdapter = nil }
    }

    /// Folds adapter `name` into the dense weight (W += scale·B·A) and makes it the active one.
    public func merge(_ name: String) throws {
        guard let lora = adapters[name] else { throw TensorError("Linear.merge: no adapter named '\(name)'") }
        guard mergedAdapter == nil else { throw TensorError("Linear.merge: '\(mergedAdapter!)' is already merged") }
        guard case .dense(let w) = weight else { throw TensorError("Linear.merge: only a dense weight can absorb an adapter") }
        let delta = try lora.weightDelta()
        for i in 0..<w.value.count { w.value.data[i] += delta.data[i] }
        mergedAdapter = name
        activeAdapter = name
    }

    /// Takes the merged adapter back out of the weight (W −= scale·B·A).
    public func unmerge() throws {
        guard let name = mergedAdapter, let lora = adapters[name] else { return }
        guard case .dense(let w) = weight else { return }
        let delta = try lora.weightDelta()
        for i in 0..<w.value.count { w.value.data[i] -= delta.data[i] }
        mergedAdapter = nil
    }
}

extension Module {
    /// Every Linear whose key ends in one of `targets` (e.g. "q_proj"), with its dotted key.
    public func linearLayers(matching targets: [String]) -> [(String, Linear)] {
        namedModules().compactMap { key, m in
            guard let l = m as? Linear, let last = key.split(separator: ".").last, targets.contains(String(last)) else { return nil }
            return (key, l)
        }
    }

    /// Adds adapter `name` to every targeted Linear (in key order, from one seeded generator), freezes
    /// everything else and returns the adapted layers. Throws when no layer matches.
    @discardableResult
    public func addAdapter(_ name: String, config: LoRAConfig, seed: UInt64) throws -> [(String, Linear)] {
        let layers = linearLayers(matching: config.targets)
        guard !layers.isEmpty else { throw TensorError("addAdapter: no linear layer matches \(config.targets)") }
        var g = SplitMix64(seed: seed)
        for (_, l) in layers {
            try l.addAdapter(name, rank: config.rank, scale: config.scale, dropout: config.dropout, generator: &g)
        }
        return layers
    }

    /// Removes adapter `name` from every Linear that has it (unmerging it first where it is merged).
    public func removeAdapter(_ name: String) throws {
        for (_, m) in namedModules() {
            guard let l = m as? Linear, l.adapters[name] != nil else { continue }
            try l.removeAdapter(name)
        }
    }

    /// Makes `name` the active adapter of every Linear that has it (nil: the bare base model).
    public func activateAdapter(_ name: String?) {
        for (_, m) in namedModules() {
            guard let l = m as? Linear else { continue }
            l.activeAdapter = name.flatMap { l.adapters[$0] == nil ? nil : $0 }
        }
    }

    /// The parameters of adapter `name` (what the optimizer trains), with their dotted keys.
    public func adapterParameters(_ name: String) -> [(String, Parameter)] {
        namedParameters().filter { $0.0.contains(".lora_A.\(name).") || $0.0.contains(".lora_B.\(name).") }
    }
}
