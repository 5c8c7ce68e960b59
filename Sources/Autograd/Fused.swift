// Fused row kernels with hand-derived backward passes: softmax, log-softmax, cross-entropy, RMSNorm,
// rotary embedding, embedding lookup. Rows are split across the pool. Attention lives in Attention.swift.
import Foundation

@inline(__always) func rowsCols(_ x: Tensor, _ op: String) throws -> (Int, Int) {
    guard x.rank >= 1, let c = x.shape.last, c > 0 else { throw TensorError("\(op): needs a non-empty last axis, got shape \(fmt(x.shape))") }
    return (x.count / c, c)
}

// MARK: softmax / log-softmax over the last axis

/// y = softmax(x) over the last axis.   x: (…, C) → (…, C).   dx = y ⊙ (dy − Σ dy⊙y)
public func softmax(_ x: Tensor) throws -> Tensor {
    let (rows, c) = try rowsCols(x, "softmax")
    let y = Tensor(uninitialized: x.shape), px = x.data, py = y.data
    parallelFor(rows, costPerItem: c * 4) { r in
        for row in r {
            let a = px + row * c, o = py + row * c
            var m = rowMax(a, c)
            if m == -.infinity { m = 0 }
            let s = expShiftSum(a, o, c, shift: m)
            let inv = 1 / s; for j in 0..<c { o[j] *= inv }
        }
    }
    guard recording(x) else { return y }
    let keep = y.storage
    return y.record("softmax", [x]) { g in
        _ = keep
        let dx = Tensor(uninitialized: x.shape), pg = g.data, pd = dx.data
        parallelFor(rows, costPerItem: c * 2) { r in
            for row in r {
                let gy = pg + row * c, yy = py + row * c, d = pd + row * c
                let dt = dot(gy, yy, c)
                for j in 0..<c { d[j] = yy[j] * (gy[j] - dt) }
            }
        }
        return [dx]
    }
}

/// y = x − logsumexp(x) over the last axis.   dx = dy − softmax(x)·Σ dy
public func logSoftmax(_ x: Tensor) throws -> Tensor {
    let (rows, c) = try rowsCols(x, "logSoftmax")
    let y = Tensor(uninitialized: x.shape), px = x.data, py = y.data
    parallelFor(rows, costPerItem: c * 4) { r in
        for row in r {
            let a = px + row * c, o = py + row * c
            let m = rowMax(a, c)
            let s = expShiftSumOnly(a, c, shift: m)
            let lse = m + Foundation.log(s); for j in 0..<c { o[j] = a[j] - lse }
        }
    }
    guard recording(x) else { return y }
    let keep = y.storage
    return y.record("logSoftmax", [x]) { g in
        _ = keep
        let dx = Tensor(uninitialized: x.shape), pg = g.data, pd = dx.data
        parallelFor(rows, costPerItem: c * 4) { r in
            for row in r {
                let gy = pg + row * c, yy = py + row * c, d = pd + row * c
                var s: Float = 0; for j in 0..<c { s += gy[j] }
                expShiftScale(yy, d, c, shift: 0, scale: s)
                for j in 0..<c { d[j] = gy[j] - d[j] }
            }
        }
        return [dx]
    }
}

// MARK: cross-entropy

/// Mean over non-ignored rows of −log softmax(logits)[target], fused and stable (log-sum-exp).
///
///     logits: (N, V)   targets: N integers in 0..<V or `ignoreIndex`   →   scalar ()
///     dlogits = (softmax(logits) − onehot(target)) · dloss / count   (zero rows for ignored targets)
///
/// When every target is ignored the loss is 0 and the gradient is zero.
///
///     let loss = try crossEntropy(logits: l, targets: [3, -100, 7], ignoreIndex: -100)
public func crossEntropy(logits: Tensor, targets: [Int32], ignoreIndex: Int32 = -100) throws -> Tensor {
    guard logits.rank == 2 else { throw TensorError("crossEntropy: logits must be (N, V), got \(fmt(logits.shape))") }
    let n = logits.shape[0], v = logits.shape[1]
    guard targets.count == n else { throw TensorError("crossEntropy: \(targets.count) targets for logits \(fmt(logits.shape))") }
    for t in targets where t != ignoreIndex && (t < 0 || Int(t) >= v) {
        throw TensorError("crossEntropy: target \(t) out of range 0..<\(v) for logits \(fmt(logits.shape))")
    }
    let count = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    let lse = Tensor(uninitialized: [n]), pl = lse.data, px = logits.data
    var losses = [Float](repeating: 0, count: n)
    losses.withUnsafeMutableBufferPointer { lp in
        let lossp = lp.baseAddress!
        targets.withUnsafeBufferPointer { tp in
            parallelFor(n, costPerItem: v * 2) { r in
                for row in r {
                    let a = px + row * v
                    let m = rowMax(a, v)
                    let s = expShiftSumOnly(a, v, shift: m)
                    pl[row] = m + Foundation.log(s)
                    let t = tp[row]
                    lossp[row] = t == ignoreIndex ? 0 : pl[row] - a[Int(t)]
                }
            }
        }
    }
    var total: Double = 0; for l in losses { total += Double(l) }
    let y = Tensor.scalar(count == 0 ? 0 : Float(total / Double(count)))
    guard recording(logits) else { return y }
    return y.record("crossEntropy", [logits]) { g in
        _ = lse
        let dx = Tensor(uninitialized: [n, v]), pd = dx.data
        let k = count == 0 ? 0 : g.item / Float(count)
        targets.withUnsafeBufferPointer { tp in
            parallelFor(n, costPerItem: v * 2) { r in
                for row in r {
                    let a = px + row * v, d = pd + row * v, t = tp[row]
                    if t == ignoreIndex { d.initialize(repeating: 0, count: v); continue }
                    let l = pl[row]
                    expShiftScale(a, d, v, shift: l, scale: k)
                    d[Int(t)] -= k
                }
            }
        }
        return [dx]
    }
}

// MARK: embedding

/// Rows of `table` picked by `ids`.   table: (V, C)   ids: N  →  (N, C), or `shape + [C]` when given.
/// Backward scatter-adds dy rows into a zero (V, C) gradient.
///
///     let h = try embedding(table, ids: tokens, shape: [B, T])   // (B, T, C)
public func embedding(_ table: Tensor, ids: [Int32], shape: [Int]? = nil) throws -> Tensor {
    guard table.rank == 2 else { throw TensorError("embedding: table must be (V, C), got \(fmt(table.shape))") }
    let v = table.shape[0], c = table.shape[1]
    if let bad = ids.first(where: { $0 < 0 || Int($0) >= v }) {
        throw TensorError("embedding: id \(bad) out of range 0..<\(v) for table \(fmt(table.shape))")
    }
    let lead = shape ?? [ids.count]
    guard lead.reduce(1, *) == ids.count else { throw TensorError("embedding: shape \(fmt(lead)) does not hold \(ids.count) ids") }
    let y = Tensor(uninitialized: lead + [c]), pt = table.data, py = y.data
    for (i, id) in ids.enumerated() { (py + i * c).update(from: pt + Int(id) * c, count: c) }
    guard recording(table) else { return y }
    return y.record("embedding", [table]) { g in
        let dt = Tensor.zeros([v, c]), pd = dt.data, pg = g.data
        for (i, id) in ids.enumerated() { let d = pd + Int(id) * c, s = pg + i * c; for j in 0..<c { d[j] += s[j] } }
        return [dt]
    }
}

// MARK: RMSNorm

/// y = x · rsqrt(mean(x²) + eps) ⊙ w over the last axis.   x: (…, C)   w: (C)  →  (…, C)
///
///     r = rsqrt(mean(x²)+eps), x̂ = x·r:   dx = r·(dy⊙w − x̂·mean(dy⊙w⊙x̂)),   dw = Σ_rows dy⊙x̂
///
///     let h = try rmsNorm(x, weight: w, eps: 1e-5)
public func rmsNorm(_ x: Tensor, weight w: Tensor, eps: Float) throws -> Tensor {
    guard x.rank >= 1, w.rank == 1, x.shape.last == w.shape[0] else {
        throw TensorError("rmsNorm: weight \(fmt(w.shape)) does not match last axis of \(fmt(x.shape))")
    }
    let c = w.shape[0], rows = c == 0 ? 0 : x.count / c
    let y = Tensor(uninitialized: x.shape), rstd = Tensor(uninitialized: [rows])
    let px = x.data, py = y.data, pw = w.data, pr = rstd.data
    parallelFor(rows, costPerItem: c * 3) { r in
        for row in r {
            let a = px + row * c, o = py + row * c
            let ss = dot(a, a, c)
            let rs = 1 / (ss / Float(c) + eps).squareRoot()
            pr[row] = rs
            for j in 0..<c { o[j] = a[j] * rs * pw[j] }
        }
    }
    guard recording(x, w) else { return y }
    let nx = x.requiresGrad, nw = w.requiresGrad
    return y.record("rmsNorm", [x, w]) { g in
        _ = rstd
        let dx: Tensor? = nx ? Tensor(uninitialized: x.shape) : nil
        let workers = Swift.max(1, Swift.min(Threads.count, rows))
        let partial = nw ? Tensor.zeros([workers, c]) : nil
        let pg = g.data
        parallelFor(rows, costPerItem: c * 6) { r in
            // Chunk index from the range start, for the per-worker dw partial sums.
            let w0 = rows <= 1 ? 0 : Swift.min(workers - 1, (r.lowerBound * workers + workers - 1) / rows)
            let dwp = partial.map { $0.data + w0 * c }
            for row in r {
                let a = px + row * c, gy = pg + row * c, rs = pr[row]
                if let dwp { for j in 0..<c { dwp[j] += gy[j] * a[j] * rs } }
                if let dx {
                    let k = dot3(gy, pw, a, c) * rs * rs / Float(c), d = dx.data + row * c
                    for j in 0..<c { d[j] = rs * (gy[j] * pw[j] - a[j] * k) }
                }
            }
        }
        return [dx, partial.map { sumAxisRaw($0, axis: 0).reshapedRaw([c]) }]
    }
}

extension Tensor {
    func reshapedRaw(_ s: [Int]) -> Tensor { Tensor(storage: storage, shape: s) }
}

// MARK: rotary position embedding

/// How positions map to rotation angles.
public enum RoPEScaling: Sendable, Equatable {
    case none
    /// Positions divided by `factor` (linear / position-interpolation scaling).
    case linear(factor: Float)
    /// Caller-computed inverse frequencies (D/2 values), e.g. Llama-3 frequency scaling.
    case inverseFrequencies([Float])
}

/// cos/sin table (T', D/2) in Double for accuracy, stored as Float.
func ropeTable(positions: [Int], halfDim h: Int, theta: Float, scaling: RoPEScaling) -> ([Float], [Float]) {
    var invFreq = (0..<h).map { Foundation.pow(Double(theta), -Double(2 * $0) / Double(2 * h)) }
    var posScale = 1.0
    switch scaling {
    case .none: break
    case .linear(let f): posScale = 1 / Double(f)
    case .inverseFrequencies(let f): invFreq = f.map(Double.init)
    }
    var cs = [Float](repeating: 0, count: positions.count * h), sn = cs
    for (t, p) in positions.enumerated() {
        for i in 0..<h { let a = Double(p) * posScale * invFreq[i]; cs[t * h + i] = Float(Foundation.cos(a)); sn[t * h + i] = Float(Foundation.sin(a)) }
    }
    return (cs, sn)
}

/// The last few cos/sin tables: q and k of every layer share one, so a step computes it once.
final class RoPETableCache: @unchecked Sendable {
    static let shared = RoPETableCache()
    private struct Entry { let positions: [Int]; let h: Int; let theta: Float; let scaling: RoPEScaling; let cs: [Float]; let sn: [Float] }
    private var entries: [Entry] = []
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    func table(positions: [Int], halfDim h: Int, theta: Float, scaling: RoPEScaling) -> ([Float], [Float]) {
        pthread_mutex_lock(&m)
        if let e = entries.first(where: { $0.h == h && $0.theta == theta && $0.scaling == scaling && $0.positions == positions }) {
            pthread_mutex_unlock(&m); return (e.cs, e.sn)
        }
        pthread_mutex_unlock(&m)
        let (cs, sn) = ropeTable(positions: positions, halfDim: h, theta: theta, scaling: scaling)
        pthread_mutex_lock(&m)
        entries.append(Entry(positions: positions, h: h, theta: theta, scaling: scaling, cs: cs, sn: sn))
        if entries.count > 8 { entries.removeFirst() }
        pthread_mutex_unlock(&m)
        return (cs, sn)
    }
}

/// Rotary position embedding, half-split convention (HF `rotate_half`): pairs (i, i + D/2) rotate by
/// angle pos·θ^(−2i/D).   x: (B, T, H, D)   positions: T (shared by the batch) or B·T   →  (B, T, H, D)
///
///     y₁ = x₁ cos − x₂ sin,   y₂ = x₂ cos + x₁ sin;   dx₁ = dy₁ cos + dy₂ sin,   dx₂ = dy₂ cos − dy₁ sin
///
///     let q = try rope(q, positions: Array(P..<(P + T)), theta: 10000)
public func rope(_ x: Tensor, positions: [Int], theta: Float = 10000, scaling: RoPEScaling = .none) throws -> Tensor {
    guard x.rank == 4, x.shape[3] % 2 == 0 else { throw TensorError("rope: x must be (B, T, H, D) with even D, got \(fmt(x.shape))") }
    let b = x.shape[0], t = x.shape[1], nh = x.shape[2], d = x.shape[3], h = d / 2
    guard positions.count == t || positions.count == b * t else {
        throw TensorError("rope: \(positions.count) positions for x \(fmt(x.shape)) (need T or B·T)")
    }
    if case .inverseFrequencies(let f) = scaling, f.count != h {
        throw TensorError("rope: \(f.count) inverse frequencies for head dim \(d) (need \(h))")
    }
    let (cs, sn) = RoPETableCache.shared.table(positions: positions, halfDim: h, theta: theta, scaling: scaling)
    let perBatch = positions.count == b * t
    func apply(_ src: Tensor, sign: Float) -> Tensor {
        let y = Tensor(uninitialized: src.shape), ps = src.data, py = y.data
        cs.withUnsafeBufferPointer { cp in sn.withUnsafeBufferPointer { sp in
            let cp = cp.baseAddress!, sp = sp.baseAddress!
            parallelFor(b * t, costPerItem: nh * d * 2) { r in
                for bt in r {
                    let row = perBatch ? bt : bt % t
                    let c = cp + row * h, s = sp + row * h
                    for head in 0..<nh {
                        let a = ps + (bt * nh + head) * d, o = py + (bt * nh + head) * d
                        for i in 0..<h {
                            let x1 = a[i], x2 = a[i + h], si = sign * s[i]
                            o[i] = x1 * c[i] - x2 * si
                            o[i + h] = x2 * c[i] + x1 * si
                        }
                    }
                }
            }
        } }
        return y
    }
    let y = apply(x, sign: 1)
    guard recording(x) else { return y }
    return y.record("rope", [x]) { g in [apply(g, sign: -1)] }   // the inverse rotation
}

/// Naive rotary embedding for tests (explicit angle per element).
func ropeReference(_ x: Tensor, positions: [Int], theta: Float) -> Tensor {
    let b = x.shape[0], t = x.shape[1], nh = x.shape[2], d = x.shape[3], h = d / 2
    let y = Tensor(uninitialized: x.shape)
    for bi in 0..<b { for ti in 0..<t { for hi in 0..<nh { for i in 0..<h {
        let p = positions.count == t ? positions[ti] : positions[bi * t + ti]
        let ang = Double(p) * Foundation.pow(Double(theta), -Double(2 * i) / Double(d))
        let base = ((bi * t + ti) * nh + hi) * d
        let x1 = Double(x.data[base + i]), x2 = Double(x.data[base + i + h])
        y.data[base + i] = Float(x1 * Foundation.cos(ang) - x2 * Foundation.sin(ang))
        y.data[base + i + h] = Float(x2 * Foundation.cos(ang) + x1 * Foundation.sin(ang))
    } } } }
    return y
}
