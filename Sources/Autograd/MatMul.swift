// Matrix products through cblas_sgemm: 2-D, batched (…,M,K)×(K,N) and (…,M,K)×(…,K,N), with transposes.
// Not a GEMM implementation: OpenBLAS does the work; this file only arranges strides.
import CBLAS

/// C[b] = op(A[b])·op(B[b]) for b in 0..<batch with element batch strides (0 = shared operand).
/// A `cStride` of 0 accumulates every batch into one C (beta 1 after the first).
///
/// Single-threaded OpenBLAS calls split over the pool: by batch items when there are enough of them,
/// else by blocks of C's longer side (multiples of 16). Every element of C is computed by one call over
/// the whole K, in batch order, so the split depends on `Threads.count` only (see `Threads`).
func gemmBatched(_ a: UnsafePointer<Float>, _ aStride: Int, _ b: UnsafePointer<Float>, _ bStride: Int,
                 _ c: UnsafeMutablePointer<Float>, _ cStride: Int, batch: Int,
                 m: Int, n: Int, k: Int, transA: Bool, transB: Bool, beta: Float = 0) {
    Threads.configureBLAS()
    guard m > 0, n > 0, batch > 0 else { return }
    let lda = transA ? m : k, ldb = transB ? k : n
    // C[b][i0..<i1, j0..<j1] = op(A[b])[i0..<i1, :] · op(B[b])[:, j0..<j1] for b in items
    func block(_ i0: Int, _ i1: Int, _ j0: Int, _ j1: Int, _ items: Range<Int>) {
        for i in items {
            let bt: Float = (cStride == 0 && i > 0) ? 1 : beta
            let cb = c + i * cStride + i0 * n + j0
            if k == 0 {
                if bt == 0 { for r in 0..<(i1 - i0) { (cb + r * n).initialize(repeating: 0, count: j1 - j0) } }
                continue
            }
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(i1 - i0), Int32(j1 - j0), Int32(k), 1,
                        a + i * aStride + (transA ? i0 : i0 * lda), Int32(lda),
                        b + i * bStride + (transB ? j0 * ldb : j0), Int32(ldb), bt, cb, Int32(n))
        }
    }
    // Below about 4 MFLOP a pool round trip costs more than it saves.
    if Threads.count == 1 || batch * m * n * Swift.max(k, 1) < 1 << 21 { block(0, m, 0, n, 0..<batch); return }
    if cStride != 0 && batch >= Threads.count {
        parallelFor(batch, costPerItem: 1 << 15) { block(0, m, 0, n, $0) }
        return
    }
    let byRows = m >= n, side = byRows ? m : n
    let parts = Swift.min(Threads.count, Swift.max(1, side / 16))
    @inline(__always) func edge(_ p: Int) -> Int { p == parts ? side : side * p / parts / 16 * 16 }
    parallelFor(parts, costPerItem: 1 << 15) { r in
        for p in r {
            let lo = edge(p), hi = edge(p + 1)
            if lo < hi { byRows ? block(lo, hi, 0, n, 0..<batch) : block(0, m, lo, hi, 0..<batch) }
        }
    }
}

/// Naive reference product for tests: same semantics as `matmul`, plain loops.
func matmulReference(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
    let p = try MatmulPlan(a.shape, b.shape, transposeA, transposeB)
    let y = Tensor.zeros(p.outShape)
    for bi in 0..<p.batch {
        let pa = a.data + bi * p.aStride, pb = b.data + bi * p.bStride, pc = y.data + bi * p.m * p.n
        for i in 0..<p.m { for j in 0..<p.n {
            var acc: Float = 0
            for l in 0..<p.k {
                let av = transposeA ? pa[l * p.m + i] : pa[i * p.k + l]
                let bv = transposeB ? pb[j * p.k + l] : pb[l * p.n + j]
                acc += av * bv
            }
            pc[i * p.n + j] = acc
        } }
    }
    return y
}

struct MatmulPlan {
    var batch = 1, m = 0, n = 0, k = 0, aStride = 0, bStride = 0
    var outShape: [Int] = []
    init(_ sa: [Int], _ sb: [Int], _ tA: Bool, _ tB: Bool) throws {
        let what = "matmul: inner dimensions differ: \(fmt(sa)) × \(fmt(sb))"
        guard sa.count >= 2, sb.count >= 2 else {
            throw TensorError("matmul: operands need at least 2 dimensions: \(fmt(sa)) × \(fmt(sb))")
        }
        m = tA ? sa[sa.count - 1] : sa[sa.count - 2]
        k = tA ? sa[sa.count - 2] : sa[sa.count - 1]
        let kb = tB ? sb[sb.count - 1] : sb[sb.count - 2]
        n = tB ? sb[sb.count - 2] : sb[sb.count - 1]
        guard k == kb else { throw TensorError(what) }
        let ba = Array(sa.dropLast(2)), bb = Array(sb.dropLast(2))
        batch = ba.reduce(1, *)
        aStride = m * k
        if bb.isEmpty { bStride = 0 }
        else {
            guard bb == ba else { throw TensorError("matmul: batch dimensions differ: \(fmt(sa)) × \(fmt(sb))") }
            bStride = k * n
        }
        outShape = ba + [m, n]
    }
}

/// C = op(A)·op(B) with op = transpose of the last two axes when asked.
///
///     a: (…, M, K) (or (…, K, M) with transposeA)   b: (K, N) or (…, K, N) (or (…, N, K) with transposeB)
///     →  (…, M, N)
///
/// A 2-D `b` is shared by every batch (a linear layer); a batched `b` must have a's batch dims.
/// Backward:  dA = dC·op(B)ᵀ (transposed back when transposeA),  dB = op(A)ᵀ·dC (summed over a shared B).
///
///     let y = try matmul(x, w, transposeB: true)     // x (N, in), w (out, in) → (N, out)
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
    let p = try MatmulPlan(a.shape, b.shape, transposeA, transposeB)
    let y = Tensor(uninitialized: p.outShape)
    if !transposeA && p.bStride == 0 {
        // Rows of every batch are one (batch·M, K) matrix: a single GEMM.
        gemmBatched(a.data, 0, b.data, 0, y.data, 0, batch: 1, m: p.batch * p.m, n: p.n, k: p.k, transA: false, transB: transposeB)
    } else {
        gemmBatched(a.data, p.aStride, b.data, p.bStride, y.data, p.m * p.n, batch: p.batch,
                    m: p.m, n: p.n, k: p.k, transA: transposeA, transB: transposeB)
    }
    guard recording(a, b) else { return y }
    let na = a.requiresGrad, nb = b.requiresGrad, sa = a.shape, sb = b.shape
    return y.record("matmul", [a, b]) { g in
        var da: Tensor? = nil, db: Tensor? = nil
        if na {
            let d = Tensor(uninitialized: sa)
            if !transposeA && p.bStride == 0 {
                // dA (BM, K) = dC (BM, N) · op(B)ᵀ
                gemmBatched(g.data, 0, b.data, 0, d.data, 0, batch: 1, m: p.batch * p.m, n: p.k, k: p.n,
                            transA: false, transB: !transposeB)
            } else if !transposeA {
                gemmBatched(g.data, p.m * p.n, b.data, p.bStride, d.data, p.m * p.k, batch: p.batch,
                            m: p.m, n: p.k, k: p.n, transA: false, transB: !transposeB)
            } else {
                // A stored (K, M): dA = op(B)·dCᵀ  (K, M)
                gemmBatched(b.data, p.bStride, g.data, p.m * p.n, d.data, p.m * p.k, batch: p.batch,
                            m: p.k, n: p.m, k: p.n, transA: transposeB, transB: true)
            }
            da = d
        }
        if nb {
            let d = Tensor(uninitialized: sb)
            let shared = p.bStride == 0
            if shared && !transposeA {
                if !transposeB {   // dB (K, N) = A_flatᵀ · dC_flat
                    gemmBatched(a.data, 0, g.data, 0, d.data, 0, batch: 1, m: p.k, n: p.n, k: p.batch * p.m, transA: true, transB: false)
                } else {           // dB (N, K) = dC_flatᵀ · A_flat
                    gemmBatched(g.data, 0, a.data, 0, d.data, 0, batch: 1, m: p.n, n: p.k, k: p.batch * p.m, transA: true, transB: false)
                }
            } else {
                let cs = shared ? 0 : p.k * p.n
                if !transposeB {   // dB (K, N) = op(A)ᵀ · dC
                    gemmBatched(a.data, p.aStride, g.data, p.m * p.n, d.data, cs, batch: p.batch,
                                m: p.k, n: p.n, k: p.m, transA: !transposeA, transB: false)
                } else {           // dB (N, K) = dCᵀ · op(A)
                    gemmBatched(g.data, p.m * p.n, a.data, p.aStride, d.data, cs, batch: p.batch,
                                m: p.n, n: p.k, k: p.m, transA: true, transB: transposeA)
                }
            }
            db = d
        }
        return [da, db]
    }
}

extension Tensor {
    public func matmul(_ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        try Autograd.matmul(self, b, transposeA: transposeA, transposeB: transposeB)
    }
}
