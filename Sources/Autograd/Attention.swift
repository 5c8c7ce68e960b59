// Fused causal self-attention with grouped-query heads, a differentiable past key/value prefix and an
// optional sliding window. Scores exist for one (head, block of query rows) per thread at a time.
// Not flash-attention tiling over keys: a block's whole key range is scored at once.
import CBLAS
import Foundation

/// Rows of queries scored together (one GEMM per block; causal blocks skip keys after their last row).
let attentionBlock = 64

/// Keys and values attended before a call's own tokens: rows of (R, P, Hkv, D) tensors. Batch row b reads
/// row `rows[b]` (default: row 0 when R = 1, else row b) and only its first `lengths[b]` positions (default
/// all P; the rest are masked). Several pasts are read one after the other: a tree of shared prefixes (a
/// document, then one of several questions' shared stems) without copying any node per child.
public struct AttentionPast {
    public var k: Tensor
    public var v: Tensor
    public var rows: [Int]?
    public var lengths: [Int]?
    public init(k: Tensor, v: Tensor, rows: [Int]? = nil, lengths: [Int]? = nil) {
        self.k = k; self.v = v; self.rows = rows; self.lengths = lengths
    }
}

/// Geometry shared by forward and backward.
struct AttentionPlan {
    var b = 0, t = 0, hq = 0, hkv = 0, d = 0, p = 0, s = 0, window: Int? = nil
    var scale: Float = 1
    /// Past segments: buffer offset and length of each; per (batch row, segment) the source row and the
    /// valid length, (b · segments + segment). `ragged` when some batch row does not see every past key.
    var segStart: [Int] = [], segLength: [Int] = []
    var segRow: [Int] = [], segValid: [Int] = []
    var ragged = false
    var blocks: Int { (t + attentionBlock - 1) / attentionBlock }
    var tasks: Int { b * hq * blocks }
    /// (batch, q head, first row, rows, first key, keys) of a task.
    @inline(__always) func task(_ i: Int) -> (Int, Int, Int, Int, Int, Int) {
        let blk = i % blocks, h = (i / blocks) % hq, bi = i / (blocks * hq)
        let r0 = blk * attentionBlock, r1 = Swift.min(t, r0 + attentionBlock)
        let kHi = p + r1
        let kLo = ragged ? 0 : (window.map { Swift.max(0, p + r0 - $0 + 1) } ?? 0)
        return (bi, h, r0, r1 - r0, kLo, kHi - kLo)
    }
    /// Visible keys [lo, hi) (absolute) of query row r when every past key is seen.
    @inline(__always) func visible(_ r: Int) -> (Int, Int) {
        let hi = p + r + 1
        return (window.map { Swift.max(0, hi - $0) } ?? 0, hi)
    }
    /// Calls `body(lo, hi)` with the visible buffer ranges of query row r of batch row bi, in increasing order.
    @inline(__always) func forEachVisible(_ bi: Int, _ r: Int, _ body: (Int, Int) -> Void) {
        guard ragged else { let (lo, hi) = visible(r); body(lo, hi); return }
        let ns = segStart.count
        var pos = 0                                    // position of the segment's first key
        for sg in 0..<ns { pos += segValid[bi * ns + sg] }
        let qpos = pos + r
        let from = window.map { Swift.max(0, qpos - $0 + 1) } ?? 0
        pos = 0
        for sg in 0..<ns {
            let n = segValid[bi * ns + sg]
            let lo = Swift.max(from, pos), hi = Swift.min(qpos + 1, pos + n)
            if lo < hi { body(segStart[sg] + lo - pos, segStart[sg] + hi - pos) }
            pos += n
        }
        let lo = Swift.max(from, pos), hi = qpos + 1
        if lo < hi { body(p + lo - pos, p + hi - pos) }
    }
}

@inline(__always) func sgemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                             _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                             _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Causal scaled-dot-product attention over projection-layout tensors (no transposes needed).
///
///     q: (B, T, Hq, D)   k, v: (B, T, Hkv, D)   past k, v: (1 or B, P, Hkv, D)   →   (B, T, Hq, D)
///
/// Query row i sits at position P + i and attends keys j (over the P past keys then the T new ones)
/// with j ≤ P + i and, given `window` W, P + i − j < W. Query head h reads KV head h / (Hq / Hkv).
/// scores = s·q·kᵀ with s = `scale` (default 1/√D; Gemma: query_pre_attn_scalar^-½), softmax per row
/// (logsumexp saved), out = probs·v. Backward recomputes the probabilities: dv = Pᵀ·dO, dP = dO·vᵀ,
/// dS = s·P⊙(dP − rowsum(dO⊙O)), dq = dS·k, dk = dSᵀ·q.
/// Gradients reach the past as well; a batch-1 past broadcast over B gets the batch sum.
///
///     let o = try causalAttention(q: q, k: k, v: v, past: (k: pk, v: pv), window: 4096)
public func causalAttention(q: Tensor, k: Tensor, v: Tensor, past: (k: Tensor, v: Tensor)? = nil,
                            window: Int? = nil, scale: Float? = nil) throws -> Tensor {
    try causalAttention(q: q, k: k, v: v, pasts: past.map { [AttentionPast(k: $0.k, v: $0.v)] } ?? [], window: window, scale: scale)
}

/// Causal attention after several pasts read in order (see `AttentionPast`): batch row b sees, of past s,
/// the first `lengths[b]` positions of row `rows[b]`, then its own tokens; its query row i sits at
/// position (Σ seen past keys) + i. A past row read by several batch rows gets the sum of their gradients.
///
///     // a document (1, P), then per question the stem of its relation (row stem[b] of R, first len[b])
///     let o = try causalAttention(q: q, k: k, v: v, pasts: [AttentionPast(k: dk, v: dv),
///                                 AttentionPast(k: sk, v: sv, rows: stem, lengths: len)])
public func causalAttention(q: Tensor, k: Tensor, v: Tensor, pasts: [AttentionPast], window: Int? = nil,
                            scale: Float? = nil) throws -> Tensor {
    guard q.rank == 4, k.rank == 4, v.rank == 4 else {
        throw TensorError("causalAttention: q, k, v must be (B, T, H, D), got q \(fmt(q.shape)), k \(fmt(k.shape)), v \(fmt(v.shape))")
    }
    var pl = AttentionPlan()
    pl.b = q.shape[0]; pl.t = q.shape[1]; pl.hq = q.shape[2]; pl.d = q.shape[3]; pl.hkv = k.shape[2]
    guard k.shape == v.shape, k.shape[0] == pl.b, k.shape[1] == pl.t, k.shape[3] == pl.d else {
        throw TensorError("causalAttention: k \(fmt(k.shape)) and v \(fmt(v.shape)) must be (B, T, Hkv, D) for q \(fmt(q.shape))")
    }
    guard pl.hkv > 0, pl.hq % pl.hkv == 0 else {
        throw TensorError("causalAttention: \(pl.hq) query heads are not a multiple of \(pl.hkv) KV heads: q \(fmt(q.shape)), k \(fmt(k.shape))")
    }
    if let w = window, w < 1 { throw TensorError("causalAttention: window \(w) must be ≥ 1 for q \(fmt(q.shape))") }
    let pasts = pasts.filter { !($0.k.rank == 4 && $0.k.shape[1] == 0) }   // an empty past adds nothing
    let ns = pasts.count
    pl.segRow = Array(repeating: 0, count: pl.b * ns); pl.segValid = Array(repeating: 0, count: pl.b * ns)
    for (sg, past) in pasts.enumerated() {
        let ps = past.k.shape
        guard past.k.shape == past.v.shape, ps.count == 4, ps[2] == pl.hkv, ps[3] == pl.d else {
            throw TensorError("causalAttention: past \(sg) k \(fmt(past.k.shape)) / v \(fmt(past.v.shape)) must be (R, P, Hkv, D) for k \(fmt(k.shape))")
        }
        let rows = past.rows ?? (ps[0] == 1 ? Array(repeating: 0, count: pl.b) : Array(0..<pl.b))
        guard rows.count == pl.b, rows.allSatisfy({ (0..<ps[0]).contains($0) }) else {
            throw TensorError("causalAttention: past \(sg) k \(fmt(ps)) needs one row in 0..<\(ps[0]) for each of the \(pl.b) batch rows")
        }
        let lengths = past.lengths ?? Array(repeating: ps[1], count: pl.b)
        guard lengths.count == pl.b, lengths.allSatisfy({ (0...ps[1]).contains($0) }) else {
            throw TensorError("causalAttention: past \(sg) k \(fmt(ps)) needs one length in 0...\(ps[1]) for each of the \(pl.b) batch rows")
        }
        for bi in 0..<pl.b { pl.segRow[bi * ns + sg] = rows[bi]; pl.segValid[bi * ns + sg] = lengths[bi] }
        if lengths.contains(where: { $0 != ps[1] }) { pl.ragged = true }
        pl.segStart.append(pl.p); pl.segLength.append(ps[1])
        pl.p += ps[1]
    }
    pl.s = pl.p + pl.t; pl.window = window
    pl.scale = scale ?? 1 / Float(pl.d).squareRoot()
    let plan = pl

    // Keys/values of the pasts + new tokens as one (B, S, Hkv, D) buffer (positions a row does not see: 0).
    func joined(_ pastT: [Tensor], _ new: Tensor) -> Tensor {
        guard plan.p > 0 else { return new }
        let y = Tensor(uninitialized: [plan.b, plan.s, plan.hkv, plan.d])
        let w = plan.hkv * plan.d, rowT = plan.t * w
        for bi in 0..<plan.b {
            let dst = y.data + bi * plan.s * w
            for sg in 0..<ns {
                let len = plan.segLength[sg], valid = plan.segValid[bi * ns + sg], row = plan.segRow[bi * ns + sg]
                (dst + plan.segStart[sg] * w).update(from: pastT[sg].data + row * len * w, count: valid * w)
                if valid < len { (dst + (plan.segStart[sg] + valid) * w).initialize(repeating: 0, count: (len - valid) * w) }
            }
            (dst + plan.p * w).update(from: new.data + bi * rowT, count: rowT)
        }
        return y
    }
    let kc = joined(pasts.map(\.k), k), vc = joined(pasts.map(\.v), v)
    let out = Tensor(uninitialized: q.shape)
    let lse = Tensor(uninitialized: [plan.b * plan.hq * plan.t])
    attentionForward(plan, q.data, kc.data, vc.data, out.data, lse.data)

    let inputs = [q, k, v] + pasts.flatMap { [$0.k, $0.v] }
    guard recording(inputs) else { return out }
    let saved = out.alias()
    let pastRowsCount = pasts.map { $0.k.shape[0] }
    return out.record("causalAttention", inputs) { g in
        let dq = Tensor(uninitialized: q.shape)
        let dkc = Tensor.zeros([plan.b, plan.s, plan.hkv, plan.d]), dvc = Tensor.zeros([plan.b, plan.s, plan.hkv, plan.d])
        attentionBackward(plan, q.data, kc.data, vc.data, saved.data, lse.data, g.data, dq.data, dkc.data, dvc.data)
        guard plan.p > 0 else { return [dq, dkc, dvc] }
        // Split (B, S, …) into each past's part and the new part; a past row read by several batch rows
        // gets the sum (positions a row does not see carry zero gradient).
        func splitGrad(_ full: Tensor) -> (Tensor, [Tensor]) {
            let w = plan.hkv * plan.d, rowT = plan.t * w
            let dnew = Tensor(uninitialized: [plan.b, plan.t, plan.hkv, plan.d])
            let dpast = (0..<ns).map { Tensor.zeros([pastRowsCount[$0], plan.segLength[$0], plan.hkv, plan.d]) }
            for bi in 0..<plan.b {
                let src = full.data + bi * plan.s * w
                (dnew.data + bi * rowT).update(from: src + plan.p * w, count: rowT)
                for sg in 0..<ns {
                    let len = plan.segLength[sg], n = plan.segValid[bi * ns + sg] * w
                    let dst = dpast[sg].data + plan.segRow[bi * ns + sg] * len * w, from = src + plan.segStart[sg] * w
                    for j in 0..<n { dst[j] += from[j] }
                }
            }
            return (dnew, dpast)
        }
        let (dk, dpk) = splitGrad(dkc), (dv, dpv) = splitGrad(dvc)
        return [dq, dk, dv] + zip(dpk, dpv).flatMap { [$0, $1] }
    }
}

/// Scores of one task into `sc` (rows × nk, ld nk): scale·Q·Kᵀ, then masked probabilities.
/// Forward computes lse; backward passes the saved lse.
@inline(__always)
func attentionProbs(_ pl: AttentionPlan, _ q: UnsafePointer<Float>, _ kc: UnsafePointer<Float>,
                    _ bi: Int, _ h: Int, _ r0: Int, _ rows: Int, _ kLo: Int, _ nk: Int,
                    _ sc: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>, computeLSE: Bool) {
    let ldq = pl.hq * pl.d, ldk = pl.hkv * pl.d, hk = h / (pl.hq / pl.hkv)
    let qp = q + (bi * pl.t + r0) * ldq + h * pl.d
    let kp = kc + (bi * pl.s + kLo) * ldk + hk * pl.d
    // S (rows, nk) = scale · Q (rows, D) · K (nk, D)ᵀ
    sgemm(false, true, rows, nk, pl.d, pl.scale, qp, ldq, kp, ldk, 0, sc, nk)
    for i in 0..<rows {
        let r = r0 + i, row = sc + i * nk
        let li = (bi * pl.hq + h) * pl.t + r
        if !pl.ragged {
            let (lo, hi) = pl.visible(r)
            let a = lo - kLo, e = hi - kLo          // visible slice of this row, local indices
            if computeLSE {
                let m = rowMax(row + a, e - a)
                let s = expShiftSum(row + a, row + a, e - a, shift: m)
                lse[li] = m + Foundation.log(s)
                let inv = 1 / s
                for j in a..<e { row[j] *= inv }
            } else {
                expShiftScale(row + a, row + a, e - a, shift: lse[li], scale: 1)
            }
            if a > 0 { row.initialize(repeating: 0, count: a) }
            if e < nk { (row + e).initialize(repeating: 0, count: nk - e) }
            continue
        }
        // Several visible ranges: softmax over their union, zeros elsewhere.
        var l: Float
        if computeLSE {
            var m = -Float.infinity
            pl.forEachVisible(bi, r) { lo, hi in m = Swift.max(m, rowMax(row + lo - kLo, hi - lo)) }
            var s: Float = 0
            pl.forEachVisible(bi, r) { lo, hi in s += expShiftSumOnly(row + lo - kLo, hi - lo, shift: m) }
            l = m + Foundation.log(s)
            lse[li] = l
        } else { l = lse[li] }
        var next = 0                                 // first local index not yet written
        pl.forEachVisible(bi, r) { lo, hi in
            let a = lo - kLo, e = hi - kLo
            if a > next { (row + next).initialize(repeating: 0, count: a - next) }
            expShiftScale(row + a, row + a, e - a, shift: l, scale: 1)
            next = e
        }
        if next < nk { (row + next).initialize(repeating: 0, count: nk - next) }
    }
}

func attentionForward(_ pl: AttentionPlan, _ q: UnsafePointer<Float>, _ kc: UnsafePointer<Float>, _ vc: UnsafePointer<Float>,
                      _ out: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>) {
    let workers = Swift.max(1, Swift.min(Threads.count, pl.tasks))
    let scratchCount = workers * attentionBlock * Swift.max(pl.s, 1)
    let scratch = BufferCache.shared.take(scratchCount)                 // reused, not faulted in at every call
    defer { BufferCache.shared.give(scratch, scratchCount) }
    let ldq = pl.hq * pl.d, ldk = pl.hkv * pl.d
    Threads.configureBLAS()
    _ = parallelTasks(pl.tasks) { ti, w in
        let (bi, h, r0, rows, kLo, nk) = pl.task(ti)
        let sc = scratch + w * attentionBlock * pl.s
        let hk = h / (pl.hq / pl.hkv)
        attentionProbs(pl, q, kc, bi, h, r0, rows, kLo, nk, sc, lse, computeLSE: true)
        // O (rows, D) = P (rows, nk) · V (nk, D)
        sgemm(false, false, rows, pl.d, nk, 1, sc, nk, vc + (bi * pl.s + kLo) * ldk + hk * pl.d, ldk,
              0, out + (bi * pl.t + r0) * ldq + h * pl.d, ldq)
    }
}

func attentionBackward(_ pl: AttentionPlan, _ q: UnsafePointer<Float>, _ kc: UnsafePointer<Float>, _ vc: UnsafePointer<Float>,
                       _ out: UnsafePointer<Float>, _ lse: UnsafePointer<Float>, _ dout: UnsafePointer<Float>,
                       _ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>, _ dv: UnsafeMutablePointer<Float>) {
    // Tasks are cut into a fixed number of contiguous chunks (not one per worker), each adding its dk/dv in
    // task order into a buffer of its own (chunk 0: dk/dv themselves), summed in chunk order at the end: the
    // gradients are the same bits whichever worker takes which chunk, so training is reproducible.
    let chunks = Swift.max(1, Swift.min(pl.tasks, Swift.max(8, Threads.count)))
    let workers = Swift.max(1, Swift.min(Threads.count, chunks))
    let blk = attentionBlock * Swift.max(pl.s, 1)
    // scratch from the cache of freed buffers: these are megabytes per layer and step, and fresh pages would
    // be faulted in and zeroed by the kernel at every call
    let cache = BufferCache.shared
    let scratchCount = workers * 2 * blk
    let scratch = cache.take(scratchCount)
    defer { cache.give(scratch, scratchCount) }
    let kvCount = pl.b * pl.s * pl.hkv * pl.d
    let extraCount = Swift.max(1, (chunks - 1) * 2 * kvCount)
    let extra = cache.take(extraCount)
    defer { cache.give(extra, extraCount) }
    // D_r = Σ_d dO⊙O per (b, t, h), stored (b, h, t) like lse.
    let dsumCount = Swift.max(1, pl.b * pl.hq * pl.t)
    let dsum = cache.take(dsumCount)
    defer { cache.give(dsum, dsumCount) }
    for bi in 0..<pl.b { for ti in 0..<pl.t { for h in 0..<pl.hq {
        let o = ((bi * pl.t + ti) * pl.hq + h) * pl.d
        dsum[(bi * pl.hq + h) * pl.t + ti] = dot(dout + o, out + o, pl.d)
    } } }
    let ldq = pl.hq * pl.d, ldk = pl.hkv * pl.d
    let lseM = UnsafeMutablePointer(mutating: lse)
    Threads.configureBLAS()
    _ = parallelTasks(chunks) { c, w in
        let pm = scratch + w * 2 * blk, dp = pm + blk
        let dkw = c == 0 ? dk : extra + (c - 1) * 2 * kvCount, dvw = c == 0 ? dv : extra + (c - 1) * 2 * kvCount + kvCount
        if c > 0 { dkw.initialize(repeating: 0, count: 2 * kvCount) }
        for ti in (pl.tasks * c / chunks)..<(pl.tasks * (c + 1) / chunks) {
            let (bi, h, r0, rows, kLo, nk) = pl.task(ti)
            let hk = h / (pl.hq / pl.hkv)
            attentionProbs(pl, q, kc, bi, h, r0, rows, kLo, nk, pm, lseM, computeLSE: false)
            let qOff = (bi * pl.t + r0) * ldq + h * pl.d, kOff = (bi * pl.s + kLo) * ldk + hk * pl.d
            // dV (nk, D) += Pᵀ (nk, rows) · dO (rows, D)
            sgemm(true, false, nk, pl.d, rows, 1, pm, nk, dout + qOff, ldq, 1, dvw + kOff, ldk)
            // dP (rows, nk) = dO (rows, D) · V (nk, D)ᵀ
            sgemm(false, true, rows, nk, pl.d, 1, dout + qOff, ldq, vc + kOff, ldk, 0, dp, nk)
            // dS = P ⊙ (dP − D_r) · scale   (into pm)
            for i in 0..<rows {
                let dr = dsum[(bi * pl.hq + h) * pl.t + r0 + i], p = pm + i * nk, g = dp + i * nk
                for j in 0..<nk { p[j] = p[j] * (g[j] - dr) * pl.scale }
            }
            // dQ (rows, D) = dS (rows, nk) · K (nk, D)
            sgemm(false, false, rows, pl.d, nk, 1, pm, nk, kc + kOff, ldk, 0, dq + qOff, ldq)
            // dK (nk, D) += dSᵀ (nk, rows) · Q (rows, D)
            sgemm(true, false, nk, pl.d, rows, 1, pm, nk, q + qOff, ldq, 1, dkw + kOff, ldk)
        }
    }
    parallelFor(kvCount, costPerItem: 2 * chunks) { r in
        for c in 1..<chunks {
            let ek = extra + (c - 1) * 2 * kvCount, ev = ek + kvCount
            for i in r { dk[i] += ek[i]; dv[i] += ev[i] }
        }
    }
}

/// Naive attention for tests (same semantics, plain loops, Float accumulation).
func attentionReference(q: Tensor, k: Tensor, v: Tensor, past: (k: Tensor, v: Tensor)?, window: Int?) -> Tensor {
    let b = q.shape[0], t = q.shape[1], hq = q.shape[2], d = q.shape[3], hkv = k.shape[2]
    let p = past?.k.shape[1] ?? 0
    let out = Tensor.zeros(q.shape)
    func key(_ src: (Tensor, Tensor?), _ bi: Int, _ j: Int, _ h: Int, _ c: Int) -> Float {
        if j < p, let pt = src.1 { let pbi = pt.shape[0] == 1 ? 0 : bi; return pt.data[((pbi * p + j) * hkv + h) * d + c] }
        return src.0.data[((bi * t + j - p) * hkv + h) * d + c]
    }
    for bi in 0..<b { for h in 0..<hq { for i in 0..<t {
        let hk = h / (hq / hkv), pos = p + i
        var sc = [Float](repeating: -.infinity, count: p + t)
        for j in 0...pos where window.map({ pos - j < $0 }) ?? true {
            var s: Float = 0
            for c in 0..<d { s += q.data[((bi * t + i) * hq + h) * d + c] * key((k, past?.k), bi, j, hk, c) }
            sc[j] = s / Float(d).squareRoot()
        }
        let m = sc.max()!; var z: Float = 0
        for j in 0..<sc.count { sc[j] = Foundation.exp(sc[j] - m); z += sc[j] }
        for j in 0..<sc.count where sc[j] > 0 { for c in 0..<d {
            out.data[((bi * t + i) * hq + h) * d + c] += sc[j] / z * key((v, past?.v), bi, j, hk, c)
        } }
    } } }
    return out
}
