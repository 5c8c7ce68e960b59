// Low-rank adapters (Hu et al., "LoRA", arXiv 2106.09685) on any Linear, by name, several per layer
// with one active: the three RHF stages share one frozen base. Not PEFT's file format (ModelFormats).
import Autograd
import Foundation
import Quantization
import Support

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

    /// y + scale·((x⊙m)·Aᵀ)·Bᵀ as one recorded op: what `Linear` adds to its base output `y` (…, out).
    ///
    /// Same values as `y + self(x)` (same dropout draws), without the four tensors of the input's or the
    /// output's size per token that the composed ops keep for backward (mask, masked input, product, scaled
    /// product): it keeps x·Aᵀ (…, r) and the mask as bits, and recomputes x⊙m in backward. On all seven
    /// projections of a block that is most of a training step's activation memory.
    ///
    /// `y` must be a fresh result that no recorded op reads back (a linear layer's output): the sum is
    /// written over its storage.
    func adding(to y: Tensor, input x: Tensor) throws -> Tensor {
        let inF = a.value.shape[1], outF = b.value.shape[0], rows = x.count / max(inF, 1)
        guard x.shape.last == inF, y.shape.last == outF, y.count / outF == rows else {
            throw TensorError("LoRA: input \(x.shape) and base output \(y.shape) do not fit A (\(rank), \(inF)), B (\(outF), \(rank))")
        }
        let mask: DropoutMask?
        if let d = dropout, d.training, d.p > 0 { mask = DropoutMask(count: x.count, p: d.p, generator: &d.generator) } else { mask = nil }
        let (wa, wb, s) = (a.value, b.value, scale)
        let u = try withNoGrad {
            let h = try (mask?.applied(to: x) ?? x).reshaped([rows, inF])
            let u = try matmul(h, wa, transposeB: true)                       // (rows, r)
            let t = try matmul(u, wb, transposeB: true)                       // (rows, out)
            let py = y.data, pt = t.data
            parallelFor(rows, costPerItem: outF) { r in
                for i in (r.lowerBound * outF)..<(r.upperBound * outF) { py[i] = py[i] + pt[i] * s }
            }
            return u
        }
        let out = y.detach()
        guard isRecording([y, x, wa, wb]) else { return out }
        return out.recorded("lora", inputs: [y, x, wa, wb]) { g in
            let g2 = try g.reshaped([rows, outF])
            let du = try matmul(g2, wb) * s                                   // (rows, r)
            let db = wb.requiresGrad ? try matmul(g2, u, transposeA: true) * s : nil
            let h = try (mask?.applied(to: x) ?? x).reshaped([rows, inF])
            let da = wa.requiresGrad ? try matmul(du, h, transposeA: true) : nil
            var dx: Tensor?
            if x.requiresGrad {
                let dh = try matmul(du, wa)                                   // (rows, in)
                mask?.apply(inPlace: dh)
                dx = try dh.reshaped(x.shape)
            }
            return [g, dx, da, db]
        }
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

    /// Keeps (or drops) a Float32 copy of every NF4 and GGML-block weight, which products of more than 16
    /// rows and input gradients then read instead of dequantising at each call (the same products; 4 bytes
    /// per weight element).
    public func keepDequantizedCopies(_ on: Bool) {
        for (_, m) in namedModules() {
            guard let l = m as? Linear else { continue }
            switch l.weight {
            case .nf4(let w): w.keepDequantizedCopy(on)
            case .ggml(let w): w.keepDequantizedCopy(on)
            case .dense: break
            }
        }
    }

    /// Keeps the Float32 copies when all of them take at most `limit` bytes (small models); else nothing.
    public func keepDequantizedCopies(within limit: Int) {
        if dequantizedCopyBytes <= limit { keepDequantizedCopies(true) }
    }

    /// Float32 bytes of a copy of every NF4 and GGML-block weight (what `keepDequantizedCopies` costs).
    public var dequantizedCopyBytes: Int {
        namedModules().reduce(0) { total, m in
            guard let l = m.1 as? Linear else { return total }
            switch l.weight {
            case .nf4(let w): return total + 4 * w.count
            case .ggml(let w): return total + 4 * w.count
            case .dense: return total
            }
        }
    }

    /// The model's own parameters, without any LoRA adapter's (what full fine-tuning trains and writes).
    public func baseParameters() -> [(String, Parameter)] {
        namedParameters().filter { !$0.0.contains(".lora_A.") && !$0.0.contains(".lora_B.") }
    }

    /// The parameters of adapter `name` (what the optimizer trains), with their dotted keys.
    public func adapterParameters(_ name: String) -> [(String, Parameter)] {
        namedParameters().filter { $0.0.contains(".lora_A.\(name).") || $0.0.contains(".lora_B.\(name).") }
    }
}
