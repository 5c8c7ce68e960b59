// Test helpers: a Float64 finite-difference gradient check and naive Double references of ops.
// Not used by the library; the references are deliberately plain loops.
import Foundation
import Support
import Testing
@testable import Autograd

/// |a−b| ≤ atol or ≤ rtol·max(|a|,|b|)
func close(_ a: Double, _ b: Double, atol: Double, rtol: Double) -> Bool {
    abs(a - b) <= atol || abs(a - b) <= rtol * max(abs(a), abs(b))
}

func expectClose(_ got: [Float], _ want: [Double], atol: Double, rtol: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): count \(got.count) vs \(want.count)", sourceLocation: sourceLocation)
    var bad = 0, first = ""
    for i in 0..<min(got.count, want.count) where !close(Double(got[i]), want[i], atol: atol, rtol: rtol) {
        if bad == 0 { first = "index \(i): got \(got[i]) want \(want[i])" }
        bad += 1
    }
    #expect(bad == 0, "\(what): \(bad) mismatches, first \(first)", sourceLocation: sourceLocation)
}

/// Deterministic test data in the ggml style: 0.1 + 2·cos(i + offset), scaled.
func det(_ shape: [Int], offset: Int = 0, scale: Float = 0.5) -> Tensor {
    let n = shape.reduce(1, *)
    return try! Tensor((0..<n).map { scale * (0.1 + 2 * Float(Foundation.cos(Double($0 + offset) * 1.3))) }, shape: shape)
}

/// Checks `op` (Float32, analytic backward) against `ref` (Double forward) in value and in gradient.
/// Gradient of L = Σ R⊙y for a fixed random R: analytic via backward(seed: R), numeric by central
/// differences of the Double reference (h = 1e-6). Forward atol 1e-5 / rtol 1e-4; grad atol 1e-4 / rtol 1e-3.
func gradCheck(_ name: String, _ inputs: [Tensor], grads: Set<Int>? = nil,
               fwdAtol: Double = 1e-5, fwdRtol: Double = 1e-4, gradAtol: Double = 1e-4, gradRtol: Double = 1e-3,
               _ op: ([Tensor]) throws -> Tensor, ref: ([[Double]]) -> [Double],
               sourceLocation: SourceLocation = #_sourceLocation) throws {
    let which = grads ?? Set(0..<inputs.count)
    let leaves = inputs.enumerated().map { i, x -> Tensor in let l = x.copy(); l.requiresGrad = which.contains(i); return l }
    let y = try op(leaves)
    let xs = inputs.map { $0.scalars.map(Double.init) }
    let want = ref(xs)
    expectClose(y.scalars, want, atol: fwdAtol, rtol: fwdRtol, "\(name) forward", sourceLocation: sourceLocation)
    var g = SplitMix64(seed: 99)
    let seed = Tensor.uniform(y.shape, low: -1, high: 1, generator: &g)
    let r = seed.scalars.map(Double.init)
    try y.backward(seed: seed)
    for i in which.sorted() {
        var num = [Double](repeating: 0, count: xs[i].count)
        var x = xs
        for j in 0..<x[i].count {
            let h = 1e-6 * max(1, abs(xs[i][j]))
            x[i][j] = xs[i][j] + h; let fp = zip(ref(x), r).reduce(0) { $0 + $1.0 * $1.1 }
            x[i][j] = xs[i][j] - h; let fm = zip(ref(x), r).reduce(0) { $0 + $1.0 * $1.1 }
            x[i][j] = xs[i][j]
            num[j] = (fp - fm) / (2 * h)
        }
        let got = leaves[i].grad?.scalars ?? []
        expectClose(got, num, atol: gradAtol, rtol: gradRtol, "\(name) grad of input \(i)", sourceLocation: sourceLocation)
    }
}

// MARK: Double references

func strides(_ s: [Int]) -> [Int] {
    var st = [Int](repeating: 1, count: s.count)
    if s.count > 1 { for i in stride(from: s.count - 2, through: 0, by: -1) { st[i] = st[i + 1] * s[i + 1] } }
    return st
}

func bcastRef(_ a: [Double], _ sa: [Int], _ b: [Double], _ sb: [Int], _ f: (Double, Double) -> Double) -> [Double] {
    let out = try! broadcastShape(sa, sb, op: "ref")
    let n = out.reduce(1, *), ost = strides(out)
    let xa = broadcastStrides(sa, in: out), xb = broadcastStrides(sb, in: out)
    return (0..<n).map { i in
        var ia = 0, ib = 0, rem = i
        for d in 0..<out.count { let c = rem / ost[d]; rem %= ost[d]; ia += c * xa[d]; ib += c * xb[d] }
        return f(a[ia], b[ib])
    }
}

func reduceRef(_ x: [Double], _ s: [Int], axes: [Int], _ initial: Double, _ f: (Double, Double) -> Double) -> [Double] {
    var os = s; for a in axes { os[a] = 1 }
    let ost = strides(os), ist = strides(s)
    var out = [Double](repeating: initial, count: os.reduce(1, *))
    for i in 0..<x.count {
        var o = 0, rem = i
        for d in 0..<s.count { let c = rem / ist[d]; rem %= ist[d]; if !axes.contains(d) { o += c * ost[d] } }
        out[o] = f(out[o], x[i])
    }
    return out
}

func matmulRef(_ a: [Double], _ sa: [Int], _ b: [Double], _ sb: [Int], tA: Bool, tB: Bool) -> [Double] {
    let m = tA ? sa[sa.count - 1] : sa[sa.count - 2], k = tA ? sa[sa.count - 2] : sa[sa.count - 1]
    let n = tB ? sb[sb.count - 2] : sb[sb.count - 1]
    let batch = sa.dropLast(2).reduce(1, *), shared = sb.count == 2
    var out = [Double](repeating: 0, count: batch * m * n)
    for bi in 0..<batch { for i in 0..<m { for j in 0..<n {
        var s = 0.0
        for l in 0..<k {
            let av = tA ? a[bi * m * k + l * m + i] : a[bi * m * k + i * k + l]
            let bo = shared ? 0 : bi * k * n
            let bv = tB ? b[bo + j * k + l] : b[bo + l * n + j]
            s += av * bv
        }
        out[(bi * m + i) * n + j] = s
    } } }
    return out
}

func softmaxRef(_ x: [Double], cols c: Int, log: Bool) -> [Double] {
    var out = x
    for r in 0..<(x.count / c) {
        let row = Array(x[(r * c)..<((r + 1) * c)])
        let m = row.max()!, z = row.reduce(0) { $0 + Foundation.exp($1 - m) }
        for j in 0..<c { out[r * c + j] = log ? row[j] - m - Foundation.log(z) : Foundation.exp(row[j] - m) / z }
    }
    return out
}

/// Attention in Double: q (B,T,Hq,D), k/v (B,T,Hkv,D), past (Bp,P,Hkv,D).
func attentionRef(_ q: [Double], _ k: [Double], _ v: [Double], _ pk: [Double]?, _ pv: [Double]?,
                  b: Int, t: Int, hq: Int, hkv: Int, d: Int, p: Int, pb: Int, window: Int?, scale: Double? = nil) -> [Double] {
    var out = [Double](repeating: 0, count: b * t * hq * d)
    func kv(_ new: [Double], _ past: [Double]?, _ bi: Int, _ j: Int, _ h: Int, _ c: Int) -> Double {
        if j < p { return past![(((pb == 1 ? 0 : bi) * p + j) * hkv + h) * d + c] }
        return new[((bi * t + j - p) * hkv + h) * d + c]
    }
    for bi in 0..<b { for h in 0..<hq { for i in 0..<t {
        let hk = h / (hq / hkv), pos = p + i
        var js: [Int] = [], sc: [Double] = []
        for j in 0...pos where window.map({ pos - j < $0 }) ?? true {
            var s = 0.0
            for c in 0..<d { s += q[((bi * t + i) * hq + h) * d + c] * kv(k, pk, bi, j, hk, c) }
            js.append(j); sc.append(scale.map { s * $0 } ?? s / Double(d).squareRoot())
        }
        let m = sc.max()!; let e = sc.map { Foundation.exp($0 - m) }; let z = e.reduce(0, +)
        for (n, j) in js.enumerated() { for c in 0..<d { out[((bi * t + i) * hq + h) * d + c] += e[n] / z * kv(v, pv, bi, j, hk, c) } }
    } } }
    return out
}

/// Attention after several pasts (segments), plain loops: batch row b reads, of segment s, the first
/// lengths[s][b] positions of row rows[s][b], then its own keys; positions run on over what it reads.
struct PastRef { var p: Int; var rows: [Int]; var lengths: [Int] }
func segmentedAttentionRef(_ q: [Double], _ k: [Double], _ v: [Double], pasts: [(k: [Double], v: [Double], shape: PastRef)],
                           b: Int, t: Int, hq: Int, hkv: Int, d: Int, window: Int?) -> [Double] {
    var out = [Double](repeating: 0, count: b * t * hq * d)
    for bi in 0..<b {
        // (keys, values) rows this batch row reads, in order: [position][hkv·d]
        var keys: [[Double]] = [], values: [[Double]] = []
        for (pk, pv, s) in pasts {
            for j in 0..<s.lengths[bi] {
                let base = ((s.rows[bi] * s.p + j) * hkv) * d
                keys.append(Array(pk[base..<(base + hkv * d)])); values.append(Array(pv[base..<(base + hkv * d)]))
            }
        }
        let pastCount = keys.count
        for j in 0..<t {
            let base = ((bi * t + j) * hkv) * d
            keys.append(Array(k[base..<(base + hkv * d)])); values.append(Array(v[base..<(base + hkv * d)]))
        }
        for h in 0..<hq { for i in 0..<t {
            let hk = h / (hq / hkv), pos = pastCount + i
            var js: [Int] = [], sc: [Double] = []
            for j in 0...pos where window.map({ pos - j < $0 }) ?? true {
                var s = 0.0
                for c in 0..<d { s += q[((bi * t + i) * hq + h) * d + c] * keys[j][hk * d + c] }
                js.append(j); sc.append(s / Double(d).squareRoot())
            }
            let m = sc.max()!; let e = sc.map { Foundation.exp($0 - m) }; let z = e.reduce(0, +)
            for (n, j) in js.enumerated() { for c in 0..<d { out[((bi * t + i) * hq + h) * d + c] += e[n] / z * values[j][hk * d + c] } }
        } }
    }
    return out
}
