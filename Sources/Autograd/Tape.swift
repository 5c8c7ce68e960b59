// Reverse-mode autodiff: nodes hold closures over saved tensors; backward walks them in reverse
// topological order and un-broadcasts every input gradient in one place. Not a graph optimiser.
import Foundation

/// One recorded op: its inputs and a closure from the output gradient to one gradient per input
/// (nil where an input needs none). Gradients may have a broadcast shape; `backward` reduces them.
final class Node {
    let inputs: [Tensor]
    let backward: (Tensor) throws -> [Tensor?]
    let name: String
    init(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.name = name; self.inputs = inputs; self.backward = backward
    }
}

enum GradMode {
    @TaskLocal static var enabled = true
}

/// Whether ops record onto the tape right now (false inside `withNoGrad`).
public var isGradEnabled: Bool { GradMode.enabled }

/// Run `body` without recording: no nodes, no closures, results have `requiresGrad == false`.
///
///     let logits = try withNoGrad { try model(x) }
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$enabled.withValue(false) { try body() }
}

/// True when an op over `inputs` must be recorded.
@inline(__always) func recording(_ inputs: Tensor...) -> Bool {
    guard GradMode.enabled else { return false }
    for t in inputs where t.requiresGrad { return true }
    return false
}
@inline(__always) func recording(_ inputs: [Tensor]) -> Bool {
    guard GradMode.enabled else { return false }
    for t in inputs where t.requiresGrad { return true }
    return false
}

extension Tensor {
    /// Attach a node (call only when `recording(...)` was true).
    @inline(__always) func record(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        requiresGrad = true
        node = Node(name, inputs, backward)
        return self
    }

    /// Reverse-mode sweep from this scalar (one-element) tensor: gradients are ADDED to the `grad` of every
    /// leaf with `requiresGrad` that it depends on. Call `zeroGrad()` on leaves between steps.
    public func backward() throws {
        guard count == 1 else { throw TensorError("backward: needs a scalar (one element), got shape \(fmt(shape))") }
        try backward(seed: Tensor.ones(shape))
    }

    /// Sweep with an explicit output gradient `seed` of this tensor's shape.
    public func backward(seed: Tensor) throws {
        guard seed.shape == shape else { throw TensorError("backward: seed shape \(fmt(seed.shape)) differs from \(fmt(shape))") }
        guard requiresGrad else { throw TensorError("backward: tensor \(fmt(shape)) does not require grad (no recorded inputs)") }
        try sweep([(self, seed)])
    }
}

/// One reverse-mode sweep from several outputs at once, each with its gradient (shapes already checked):
/// every node is visited once, after all the outputs that depend on it.
func sweep(_ roots: [(Tensor, Tensor)]) throws {
    // Reverse post-order of an iterative DFS = a topological order from outputs to inputs.
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>()
    var grads: [ObjectIdentifier: Tensor] = [:]
    for (root, seed) in roots {
        let key = ObjectIdentifier(root)
        grads[key] = try grads[key].map { try addRaw($0, seed) } ?? seed
        guard visited.insert(key).inserted else { continue }
        var stack: [(Tensor, Int)] = [(root, 0)]
        while let (t, i) = stack.popLast() {
            let ins = t.node?.inputs ?? []
            if i < ins.count {
                stack.append((t, i + 1))
                let c = ins[i]
                if c.requiresGrad && visited.insert(ObjectIdentifier(c)).inserted { stack.append((c, 0)) }
            } else {
                order.append(t)
            }
        }
    }
    for t in order.reversed() {
        guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
        guard let node = t.node else {
            // Leaf: accumulate into .grad (own a copy so later in-place adds never touch shared buffers).
            if let old = t.grad { addInPlace(old, g) } else { t.grad = g.copy() }
            continue
        }
        let ig = try withNoGrad { try node.backward(g) }
        for (x, gx) in zip(node.inputs, ig) {
            guard x.requiresGrad, let gx else { continue }
            let r = gx.shape == x.shape ? gx : try unbroadcast(gx, to: x.shape)   // the one central place
            let key = ObjectIdentifier(x)
            if let old = grads[key] { grads[key] = try addRaw(old, r) } else { grads[key] = r }
        }
    }
}

/// Clear `grad` of every tensor in the list.
public func zeroGrad(_ tensors: [Tensor]) { for t in tensors { t.grad = nil } }

/// Activation checkpointing: run `body` now without recording, keep only `inputs`, and during backward
/// re-run it with recording to get the gradients for `inputs` and for any parameters `body` captures.
/// Gradients equal those without checkpointing. `body` runs twice, so any randomness inside must be
/// re-seeded identically on each run (e.g. derive the dropout generator from a fixed seed inside `body`).
///
///     let h = try checkpoint([x]) { ins in try silu(matmul(ins[0], w)) }
public func checkpoint(_ inputs: [Tensor], _ body: @escaping ([Tensor]) throws -> Tensor) throws -> Tensor {
    try checkpoint(inputs, outputs: { [try body($0)] })[0]
}

/// Activation checkpointing of a body with several outputs (a decoder block's output and the keys and
/// values it computed): every output is on the tape, and backward re-runs `body` once, seeded with the
/// gradients of all the outputs that received one, whichever of them later ops used.
///
///     outputs yᵢ = body(inputs)ᵢ      backward: re-run body recorded, sweep from all yᵢ with their dyᵢ at once
///
///     let outs = try checkpoint([x]) { ins in let k = try matmul(ins[0], wk); return [try silu(k), k] }
///
/// On the tape, the outputs hang off one hidden one-element node that stands for the whole body: each
/// output's backward files its gradient and passes a zero to that node, which the sweep reaches only
/// after every output, and whose backward does the recomputation.
public func checkpoint(_ inputs: [Tensor], outputs body: @escaping ([Tensor]) throws -> [Tensor]) throws -> [Tensor] {
    let detached = inputs.map { $0.detach() }
    let outs = try withNoGrad { try body(detached) }
    let results = outs.map { Tensor(storage: $0.storage, shape: $0.shape) }
    guard GradMode.enabled else { return results }
    let filed = FiledGradients(count: results.count)
    let whole = Tensor.zeros([1]).record("checkpoint", inputs) { _ in
        let seeds = filed.take()
        let leaves = inputs.map { x -> Tensor in let l = x.detach(); l.requiresGrad = x.requiresGrad; return l }
        let ys = try GradMode.$enabled.withValue(true) { try body(leaves) }
        guard ys.count == seeds.count else {
            throw TensorError("checkpoint: the body returned \(seeds.count) outputs, then \(ys.count) when recomputed")
        }
        var roots: [(Tensor, Tensor)] = []
        for (y, g) in zip(ys, seeds) {
            guard let g, y.requiresGrad else { continue }
            guard g.shape == y.shape else {
                throw TensorError("checkpoint: recomputed output \(fmt(y.shape)) differs from the first run's \(fmt(g.shape))")
            }
            roots.append((y, g))
        }
        if !roots.isEmpty { try sweep(roots) }
        return leaves.map { $0.grad }
    }
    for (i, r) in results.enumerated() {
        _ = r.record("checkpoint output \(i)", [whole]) { g in
            filed.put(i, g)
            return [Tensor.zeros([1])]
        }
    }
    return results
}

/// The gradients of a checkpoint's outputs, filed by the outputs' nodes until the body's node takes them.
final class FiledGradients {
    private var grads: [Tensor?]
    init(count: Int) { grads = Array(repeating: nil, count: count) }
    func put(_ i: Int, _ g: Tensor) { grads[i] = g }
    func take() -> [Tensor?] { defer { grads = Array(repeating: nil, count: grads.count) }; return grads }
}
