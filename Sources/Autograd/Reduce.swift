// Reductions over axes (sum, mean, max) as (outer, n, inner) sweeps, one axis at a time.
// Not a general einsum; multi-axis max is a composition of single-axis maxima.

func normalizeAxes(_ axes: [Int], rank: Int, op: String, shape: [Int]) throws -> [Int] {
    var out: [Int] = []
    for a in axes {
        let r = a < 0 ? a + rank : a
        guard r >= 0 && r < rank else { throw TensorError("\(op): axis \(a) out of range for shape \(fmt(shape))") }
        guard !out.contains(r) else { throw TensorError("\(op): axis \(a) repeated for shape \(fmt(shape))") }
        out.append(r)
    }
    return out.sorted()
}

/// Sum over one axis: x viewed as (outer, n, inner) → (outer, inner).
func sumAxisRaw(_ x: Tensor, axis: Int) -> Tensor {
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    var s = x.shape; s[axis] = 1
    let y = Tensor.zeros(s), px = x.data, py = y.data
    if inner == 1 {
        parallelFor(outer, costPerItem: n) { r in
            for o in r { var acc: Float = 0; let b = px + o * n; for j in 0..<n { acc += b[j] }; py[o] = acc }
        }
    } else {
        parallelFor(inner, costPerItem: outer * n) { r in
            for o in 0..<outer {
                let dst = py + o * inner
                for j in 0..<n { let src = px + (o * n + j) * inner; for i in r { dst[i] += src[i] } }
            }
        }
    }
    return y
}

/// Sum over `axes` keeping them as size 1 (not recorded).
func sumRaw(_ x: Tensor, axes: [Int]) -> Tensor {
    var y = x
    for a in axes where x.shape[a] != 1 { y = sumAxisRaw(y, axis: a) }
    if axes.allSatisfy({ x.shape[$0] == 1 }) { return x }
    return y
}

/// y = Σ over `axes` of x.   x: (…)  →  same rank with those axes 1 (keepDims) or removed.
/// `axes` nil means all. Backward: dx = broadcast(dy).
///
///     let s = try x.sum(axes: [1], keepDims: true)   // (N, C) → (N, 1)
public func sum(_ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
    let ax = try normalizeAxes(axes ?? Array(0..<x.rank), rank: x.rank, op: "sum", shape: x.shape)
    let r = sumRaw(x, axes: ax)
    let kept = r.shape
    let outShape = keepDims ? kept : kept.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
    let y = Tensor(storage: r === x ? x.copy().storage : r.storage, shape: outShape)
    guard recording(x) else { return y }
    let xs = x.shape
    return y.record("sum", [x]) { g in [broadcastRaw(Tensor(storage: g.storage, shape: kept), to: xs)] }
}

/// Mean over `axes` (all when nil).
public func mean(_ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
    let ax = try normalizeAxes(axes ?? Array(0..<x.rank), rank: x.rank, op: "mean", shape: x.shape)
    let n = ax.reduce(1) { $0 * x.shape[$1] }
    return scale(try sum(x, axes: ax, keepDims: keepDims), 1 / Float(max(n, 1)))
}

/// Maximum over one axis; the gradient goes to the first maximal element.
func maxAxis(_ x: Tensor, axis: Int) throws -> Tensor {
    let outer = x.shape[..<axis].reduce(1, *), n = x.shape[axis], inner = x.shape[(axis + 1)...].reduce(1, *)
    guard n > 0 else { throw TensorError("max: empty axis \(axis) in shape \(fmt(x.shape))") }
    var s = x.shape; s[axis] = 1
    let y = Tensor(uninitialized: s), px = x.data, py = y.data
    var arg = [Int32](repeating: 0, count: outer * inner)
    arg.withUnsafeMutableBufferPointer { pa in
        for o in 0..<outer {
            for i in 0..<inner {
                var best = px[o * n * inner + i], bi = 0
                for j in 1..<max(n, 1) { let v = px[(o * n + j) * inner + i]; if v > best { best = v; bi = j } }
                py[o * inner + i] = best; pa[o * inner + i] = Int32(bi)
            }
        }
    }
    guard recording(x) else { return y }
    let xs = x.shape
    return y.record("max", [x]) { g in
        let dx = Tensor.zeros(xs), pd = dx.data, pg = g.data
        for o in 0..<outer { for i in 0..<inner { pd[(o * n + Int(arg[o * inner + i])) * inner + i] += pg[o * inner + i] } }
        return [dx]
    }
}

/// y = max over `axes` (all when nil). Backward sends dy to the first maximal element.
public func max(_ x: Tensor, axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
    let ax = try normalizeAxes(axes ?? Array(0..<x.rank), rank: x.rank, op: "max", shape: x.shape)
    var y = x
    for a in ax { y = try maxAxis(y, axis: a) }
    if keepDims { return y }
    return try reshape(y, y.shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
}

extension Tensor {
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor { try Autograd.sum(self, axes: axes, keepDims: keepDims) }
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor { try Autograd.mean(self, axes: axes, keepDims: keepDims) }
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor { try Autograd.max(self, axes: axes, keepDims: keepDims) }
}
