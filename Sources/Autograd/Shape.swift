import Support
// Shape ops: reshape (a view), transpose/permute (copies), concat, split, slice, gather, masking, dropout.
// Not strided views: every op except reshape copies into a fresh contiguous tensor.

/// Same values, new shape (a view sharing storage). One dimension may be −1.
public func reshape(_ x: Tensor, _ shape: [Int]) throws -> Tensor {
    var s = shape
    let known = s.filter { $0 != -1 }.reduce(1, *)
    if let i = s.firstIndex(of: -1) {
        guard s.filter({ $0 == -1 }).count == 1, known > 0, x.count % known == 0 else {
            throw TensorError("reshape: cannot reshape \(fmt(x.shape)) to \(fmt(shape))")
        }
        s[i] = x.count / known
    }
    guard s.allSatisfy({ $0 >= 0 }), s.reduce(1, *) == x.count else {
        throw TensorError("reshape: cannot reshape \(fmt(x.shape)) to \(fmt(shape))")
    }
    let y = Tensor(storage: x.storage, shape: s)
    guard recording(x) else { return y }
    let xs = x.shape
    return y.record("reshape", [x]) { g in [Tensor(storage: g.storage, shape: xs)] }
}

/// Copy of x with axes reordered: y.shape[i] = x.shape[perm[i]] (not recorded).
func permuteRaw(_ x: Tensor, _ perm: [Int]) -> Tensor {
    let r = x.rank
    let outShape = perm.map { x.shape[$0] }
    let y = Tensor(uninitialized: outShape)
    if x.count == 0 { return y }
    var xStr = [Int](repeating: 1, count: r)
    for i in stride(from: r - 2, through: 0, by: -1) { xStr[i] = xStr[i + 1] * x.shape[i + 1] }
    let src = perm.map { xStr[$0] }
    let px = x.data, py = y.data, n = y.count
    if r == 0 { py[0] = px[0]; return y }
    let last = outShape[r - 1], ls = src[r - 1]
    var idx = [Int](repeating: 0, count: r)
    var o = 0, ix = 0
    while o < n {
        for j in 0..<last { py[o + j] = px[ix + j * ls] }
        o += last
        var d = r - 2
        while d >= 0 {
            idx[d] += 1; ix += src[d]
            if idx[d] < outShape[d] { break }
            ix -= src[d] * outShape[d]; idx[d] = 0; d -= 1
        }
    }
    return y
}

/// Reorder axes: y.shape[i] = x.shape[axes[i]].  Backward: the inverse permutation.
public func permute(_ x: Tensor, _ axes: [Int]) throws -> Tensor {
    let ax = axes.map { $0 < 0 ? $0 + x.rank : $0 }
    guard ax.count == x.rank, Set(ax) == Set(0..<x.rank) else {
        throw TensorError("permute: \(axes) is not a permutation of the axes of \(fmt(x.shape))")
    }
    let y = permuteRaw(x, ax)
    guard recording(x) else { return y }
    var inv = [Int](repeating: 0, count: ax.count)
    for (i, a) in ax.enumerated() { inv[a] = i }
    return y.record("permute", [x]) { g in [permuteRaw(g, inv)] }
}

/// Swap two axes (a copy).   (…, a, …, b, …) → (…, b, …, a, …)
public func transpose(_ x: Tensor, _ a: Int, _ b: Int) throws -> Tensor {
    let r = x.rank, ia = a < 0 ? a + r : a, ib = b < 0 ? b + r : b
    guard ia >= 0, ia < r, ib >= 0, ib < r else {
        throw TensorError("transpose: axes (\(a), \(b)) out of range for shape \(fmt(x.shape))")
    }
    var p = Array(0..<r); p.swapAt(ia, ib)
    return try permute(x, p)
}

/// Join tensors along `axis`; all other dimensions must agree.
public func concat(_ xs: [Tensor], axis: Int) throws -> Tensor {
    guard let first = xs.first else { throw TensorError("concat: no tensors") }
    let r = first.rank, ax = axis < 0 ? axis + r : axis
    guard ax >= 0 && ax < r else { throw TensorError("concat: axis \(axis) out of range for shape \(fmt(first.shape))") }
    for x in xs {
        guard x.rank == r, (0..<r).allSatisfy({ $0 == ax || x.shape[$0] == first.shape[$0] }) else {
            throw TensorError("concat: shapes differ off axis \(axis): " + xs.map { fmt($0.shape) }.joined(separator: ", "))
        }
    }
    let outer = first.shape[..<ax].reduce(1, *), inner = first.shape[(ax + 1)...].reduce(1, *)
    let sizes = xs.map { $0.shape[ax] }, total = sizes.reduce(0, +)
    var s = first.shape; s[ax] = total
    let y = Tensor(uninitialized: s), py = y.data
    var off = 0
    for (x, n) in zip(xs, sizes) {
        let px = x.data, w = n * inner
        for o in 0..<outer { (py + o * total * inner + off * inner).update(from: px + o * w, count: w) }
        off += n
    }
    guard recording(xs) else { return y }
    return y.record("concat", xs) { g in
        var res: [Tensor?] = []; var off = 0
        for n in sizes { res.append(sliceRaw(g, axis: ax, start: off, count: n)); off += n }
        return res
    }
}

func sliceRaw(_ x: Tensor, axis ax: Int, start: Int, count n: Int) -> Tensor {
    let outer = x.shape[..<ax].reduce(1, *), inner = x.shape[(ax + 1)...].reduce(1, *), d = x.shape[ax]
    var s = x.shape; s[ax] = n
    let y = Tensor(uninitialized: s), px = x.data, py = y.data
    for o in 0..<outer { (py + o * n * inner).update(from: px + (o * d + start) * inner, count: n * inner) }
    return y
}

/// Elements `range` along `axis` (a copy).  Backward scatters dy into zeros.
public func slice(_ x: Tensor, axis: Int, _ range: Range<Int>) throws -> Tensor {
    let r = x.rank, ax = axis < 0 ? axis + r : axis
    guard ax >= 0 && ax < r else { throw TensorError("slice: axis \(axis) out of range for shape \(fmt(x.shape))") }
    guard range.lowerBound >= 0 && range.upperBound <= x.shape[ax] else {
        throw TensorError("slice: range \(range.lowerBound)..<\(range.upperBound) out of bounds on axis \(axis) of shape \(fmt(x.shape))")
    }
    let y = sliceRaw(x, axis: ax, start: range.lowerBound, count: range.count)
    guard recording(x) else { return y }
    let xs = x.shape
    return y.record("slice", [x]) { g in
        let dx = Tensor.zeros(xs)
        let outer = xs[..<ax].reduce(1, *), inner = xs[(ax + 1)...].reduce(1, *), d = xs[ax], n = range.count
        for o in 0..<outer { (dx.data + (o * d + range.lowerBound) * inner).update(from: g.data + o * n * inner, count: n * inner) }
        return [dx]
    }
}

/// Split along `axis` into pieces of the given sizes (which must sum to the axis length).
public func split(_ x: Tensor, axis: Int, sizes: [Int]) throws -> [Tensor] {
    let r = x.rank, ax = axis < 0 ? axis + r : axis
    guard ax >= 0 && ax < r else { throw TensorError("split: axis \(axis) out of range for shape \(fmt(x.shape))") }
    guard sizes.reduce(0, +) == x.shape[ax], sizes.allSatisfy({ $0 >= 0 }) else {
        throw TensorError("split: sizes \(sizes) do not sum to \(x.shape[ax]) on axis \(axis) of shape \(fmt(x.shape))")
    }
    var out: [Tensor] = []; var off = 0
    for n in sizes { out.append(try slice(x, axis: ax, off..<(off + n))); off += n }
    return out
}

/// Select `indices` along `axis` (index_select). Backward scatter-adds (repeated indices accumulate).
public func gather(_ x: Tensor, axis: Int, indices: [Int]) throws -> Tensor {
    let r = x.rank, ax = axis < 0 ? axis + r : axis
    guard ax >= 0 && ax < r else { throw TensorError("gather: axis \(axis) out of range for shape \(fmt(x.shape))") }
    let d = x.shape[ax]
    if let bad = indices.first(where: { $0 < 0 || $0 >= d }) {
        throw TensorError("gather: index \(bad) out of range 0..<\(d) on axis \(axis) of shape \(fmt(x.shape))")
    }
    let outer = x.shape[..<ax].reduce(1, *), inner = x.shape[(ax + 1)...].reduce(1, *), n = indices.count
    var s = x.shape; s[ax] = n
    let y = Tensor(uninitialized: s), px = x.data, py = y.data
    for o in 0..<outer { for (k, i) in indices.enumerated() { (py + (o * n + k) * inner).update(from: px + (o * d + i) * inner, count: inner) } }
    guard recording(x) else { return y }
    let xs = x.shape
    return y.record("gather", [x]) { g in
        let dx = Tensor.zeros(xs), pd = dx.data, pg = g.data
        for o in 0..<outer { for (k, i) in indices.enumerated() {
            let dst = pd + (o * d + i) * inner, src = pg + (o * n + k) * inner
            for j in 0..<inner { dst[j] += src[j] }
        } }
        return [dx]
    }
}

/// y = mask ≠ 0 ? value : x, with `mask` broadcastable to x.  Backward: dx = dy where mask = 0.
public func maskedFill(_ x: Tensor, mask: Tensor, value: Float) throws -> Tensor {
    let s = try broadcastShape(x.shape, mask.shape, op: "maskedFill")
    guard s == x.shape else { throw TensorError("maskedFill: mask \(fmt(mask.shape)) does not broadcast to \(fmt(x.shape))") }
    let y = binaryKernel(x, mask, s) { v, m in m != 0 ? value : v }
    guard recording(x) else { return y }
    return y.record("maskedFill", [x]) { g in [binaryKernel(g, mask, g.shape) { v, m in m != 0 ? 0 : v }] }
}

/// y = mask ≠ 0 ? a : b, all three broadcast together.  da = dy·[mask≠0], db = dy·[mask=0].
public func `where`(_ mask: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
    let s = try broadcastShape(try broadcastShape(mask.shape, a.shape, op: "where"), b.shape, op: "where")
    let m = broadcastRaw(mask, to: s)
    let av = broadcastRaw(a, to: s), bv = broadcastRaw(b, to: s)
    let pm = m.data
    let y = Tensor(uninitialized: s)
    let pa = av.data, pb = bv.data, py = y.data
    for i in 0..<y.count { py[i] = pm[i] != 0 ? pa[i] : pb[i] }
    guard recording(a, b) else { return y }
    return y.record("where", [a, b]) { g in
        [binaryKernel(g, m, s) { v, k in k != 0 ? v : 0 }, binaryKernel(g, m, s) { v, k in k != 0 ? 0 : v }]
    }
}

/// Inverted dropout: zero each element with probability p, scale the rest by 1/(1−p).
/// The mask comes from `generator`, so a run is reproducible from its seed.
public func dropout(_ x: Tensor, p: Float, generator: inout SplitMix64) throws -> Tensor {
    guard p >= 0 && p < 1 else { throw TensorError("dropout: p = \(p) must be in [0, 1) for shape \(fmt(x.shape))") }
    if p == 0 { return x }
    let mask = DropoutMask(count: x.count, p: p, generator: &generator)
    let y = mask.applied(to: x)
    guard recording(x) else { return y }
    return y.record("dropout", [x]) { g in [mask.applied(to: g)] }
}

/// An inverted-dropout mask as bits, drawn from `generator` (element i kept unless its draw is below p);
/// kept elements are scaled by 1/(1−p). `dropout` and ops that fuse it (a LoRA branch) draw through it.
public struct DropoutMask: Sendable {
    let bits: [UInt64]
    let keep: Float
    public let count: Int

    public init(count: Int, p: Float, generator: inout SplitMix64) {
        // Element i is kept unless the generator's (i+1)-th draw, read as `nextFloat()`, is below p. That is
        // Float(z >> 40)·2⁻²⁴ < p, exactly (z >> 40) < ⌈p·2²⁴⌉ in integers; draw i is mix(s₀ + (i+1)·γ), so
        // words of 64 draws are made independently (in parallel) and the generator ends where `count` calls
        // of `nextFloat()` would leave it.
        let words = (count + 63) / 64, s0 = generator.state, gamma = SplitMix64.gamma
        let threshold = UInt64((Double(p) * 16_777_216).rounded(.up))
        var bits = [UInt64](repeating: 0, count: words)
        bits.withUnsafeMutableBufferPointer { b in
            let pb = b.baseAddress!
            parallelFor(words, costPerItem: 64) { r in
                for w in r {
                    var s = s0 &+ UInt64(w * 64) &* gamma, word: UInt64 = 0
                    for j in 0..<min(64, count - w * 64) {
                        s &+= gamma
                        if SplitMix64.mix(s) >> 40 >= threshold { word |= 1 << UInt64(j) }
                    }
                    pb[w] = word
                }
            }
        }
        generator.state = s0 &+ UInt64(count) &* gamma
        self.bits = bits; self.count = count; keep = 1 / (1 - p)
    }

    /// x ⊙ m, a new tensor (not recorded).
    public func applied(to x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        write(x.data, into: y.data)
        return y
    }

    /// t ⊙ m over t's storage: each element times 0 or 1/(1−p).
    public func apply(inPlace t: Tensor) { write(t.data, into: t.data) }

    /// dst[i] = src[i]·m[i] a word of 64 elements at a time (src may be dst).
    private func write(_ src: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
        let k = keep, n = count
        bits.withUnsafeBufferPointer { b in
            parallelFor(b.count, costPerItem: 64) { r in
                for w in r {
                    let word = b[w], base = w * 64
                    for j in 0..<min(64, n - base) { dst[base + j] = (word >> UInt64(j)) & 1 != 0 ? src[base + j] * k : 0 }
                }
            }
        }
    }
}

extension Tensor {
    public func reshaped(_ shape: [Int]) throws -> Tensor { try reshape(self, shape) }
    public func transposed(_ a: Int, _ b: Int) throws -> Tensor { try transpose(self, a, b) }
    public func permuted(_ axes: [Int]) throws -> Tensor { try permute(self, axes) }
}
