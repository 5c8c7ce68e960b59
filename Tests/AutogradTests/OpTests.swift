// Gradient checks of every differentiable op against Float64 finite differences, and fast-vs-naive kernels.
import Foundation
import Support
import Testing
@testable import Autograd

@Suite struct ElementwiseGradTests {
    static let patterns: [([Int], [Int])] = [
        ([2, 3], [2, 3]), ([2, 3], [3]), ([2, 3], [2, 1]), ([4, 1, 3], [2, 1]), ([1], [2, 3]), ([], [3, 2]),
        ([2, 1, 3], [1, 4, 1]),
    ]
    @Test(arguments: patterns) func broadcastBinary(sa: [Int], sb: [Int]) throws {
        let a = det(sa, offset: 1), b = det(sb, offset: 7) + 2.5   // b away from 0 for div
        let cases: [(String, (Tensor, Tensor) throws -> Tensor, (Double, Double) -> Double)] = [
            ("add", { try $0 + $1 }, +), ("sub", { try $0 - $1 }, -), ("mul", { try $0 * $1 }, *), ("div", { try $0 / $1 }, /),
        ]
        for (name, f, g) in cases {
            try gradCheck("\(name) \(sa)×\(sb)", [a, b], { try f($0[0], $0[1]) }, ref: { bcastRef($0[0], sa, $0[1], sb, g) })
        }
    }

    @Test func unaryAndScalar() throws {
        let x = det([3, 5]), pos = det([3, 5]) * 0.3 + 1.2
        try gradCheck("exp", [x], { $0[0].exp() }, ref: { $0[0].map { Foundation.exp($0) } })
        try gradCheck("log", [pos], { $0[0].log() }, ref: { $0[0].map { Foundation.log($0) } })
        try gradCheck("sqrt", [pos], { $0[0].sqrt() }, ref: { $0[0].map { $0.squareRoot() } })
        try gradCheck("rsqrt", [pos], { $0[0].rsqrt() }, ref: { $0[0].map { 1 / $0.squareRoot() } })
        try gradCheck("silu", [x], { $0[0].silu() }, ref: { $0[0].map { $0 / (1 + Foundation.exp(-$0)) } })
        try gradCheck("scalar ops", [x], { (2 - $0[0] * 3 + 1) / 4 }, ref: { $0[0].map { (2 - $0 * 3 + 1) / 4 } })
    }

    /// GELU with the tanh approximation (Gemma's GeGLU), against the formula in Double; x spans both tails.
    @Test func geluTanh() throws {
        let x = det([3, 7], scale: 1.6)
        let c = (2 / Double.pi).squareRoot()
        try gradCheck("geluTanh", [x], { $0[0].geluTanh() }, ref: {
            $0[0].map { 0.5 * $0 * (1 + Foundation.tanh(c * ($0 + 0.044715 * $0 * $0 * $0))) } })
        // far tails: x for large x, 0 for very negative x
        let tails = try Tensor([-12, -6, 0, 6, 12], shape: [5]).geluTanh().scalars
        #expect(tails[0] == 0 && abs(tails[1]) < 1e-6 && tails[2] == 0 && abs(tails[3] - 6) < 1e-5 && tails[4] == 12)
    }

    @Test func reductions() throws {
        let s = [2, 3, 4], x = det(s)
        for axes in [[0], [1], [2], [0, 2], [0, 1, 2]] {
            try gradCheck("sum \(axes)", [x], { try $0[0].sum(axes: axes, keepDims: true) },
                          ref: { reduceRef($0[0], s, axes: axes, 0, +) })
            try gradCheck("mean \(axes)", [x], { try $0[0].mean(axes: axes) },
                          ref: { reduceRef($0[0], s, axes: axes, 0, +).map { $0 / Double(axes.reduce(1) { $0 * s[$1] }) } })
            try gradCheck("max \(axes)", [x], { try $0[0].max(axes: axes) },
                          ref: { reduceRef($0[0], s, axes: axes, -.infinity, Swift.max) })
        }
        let y = try x.sum(axes: [1])
        #expect(y.shape == [2, 4])
        #expect(try x.sum().shape == [])
    }

    @Test func withNoGradRecordsNothing() throws {
        let w = det([3, 3]); w.requiresGrad = true
        let y = try withNoGrad { try matmul(w, w).silu().sum() }
        #expect(y.node == nil && !y.requiresGrad)
        #expect(!isGradEnabled == false)
        withNoGrad { #expect(!isGradEnabled) }
        let z = try matmul(w, w).sum()
        #expect(z.node != nil)
        #expect(z.detach().node == nil)
    }

    @Test func gradientsAccumulateAndFanOut() throws {
        let x = det([4]); x.requiresGrad = true
        let y = try (x * x + x).sum()          // dy/dx = 2x + 1 (x used three times)
        try y.backward()
        try y.backward()
        let want = x.scalars.map { 2 * (2 * Double($0) + 1) }
        expectClose(x.grad!.scalars, want, atol: 1e-6, rtol: 1e-6, "accumulated grad")
        x.zeroGrad(); #expect(x.grad == nil)
    }
}

@Suite struct LinearAlgebraTests {
    @Test func matmulGrads() throws {
        for (sa, sb, ta, tb) in [([3, 4], [4, 5], false, false), ([4, 3], [4, 5], true, false), ([3, 4], [5, 4], false, true),
                                 ([4, 3], [5, 4], true, true), ([2, 3, 4], [4, 5], false, false), ([2, 3, 4], [5, 4], false, true),
                                 ([2, 4, 3], [4, 5], true, false), ([2, 3, 4], [2, 4, 5], false, false), ([2, 4, 3], [2, 5, 4], true, true)] {
            try gradCheck("matmul \(sa)×\(sb) tA=\(ta) tB=\(tb)", [det(sa, offset: 1), det(sb, offset: 5)],
                          { try matmul($0[0], $0[1], transposeA: ta, transposeB: tb) },
                          ref: { matmulRef($0[0], sa, $0[1], sb, tA: ta, tB: tb) })
        }
    }

    @Test(arguments: [1, 3, 17, 63, 127]) func matmulFastEqualsNaive(n: Int) throws {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = det(ta ? [n + 2, n] : [n, n + 2], offset: 3), b = det(tb ? [5, n + 2] : [n + 2, 5], offset: 9)
            let fast = try matmul(a, b, transposeA: ta, transposeB: tb), slow = try matmulReference(a, b, transposeA: ta, transposeB: tb)
            expectClose(fast.scalars, slow.scalars.map(Double.init), atol: 1e-4, rtol: 1e-4, "matmul n=\(n)")
        }
    }

    @Test func shapeOps() throws {
        let s = [2, 3, 4], x = det(s)
        try gradCheck("reshape", [x], { try $0[0].reshaped([4, -1]) * $0[0].reshaped([4, 6]) },
                      ref: { $0[0].map { $0 * $0 } })
        try gradCheck("transpose", [x], { try $0[0].transposed(0, 2) }, ref: { v in
            var o = [Double](repeating: 0, count: 24)
            for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { o[(k * 3 + j) * 2 + i] = v[0][(i * 3 + j) * 4 + k] } } }
            return o })
        try gradCheck("permute", [x], { try $0[0].permuted([1, 2, 0]) }, ref: { v in
            var o = [Double](repeating: 0, count: 24)
            for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { o[(j * 4 + k) * 2 + i] = v[0][(i * 3 + j) * 4 + k] } } }
            return o })
        let y = det([2, 2, 4], offset: 3)
        try gradCheck("concat", [x, y], { try concat([$0[0], $0[1]], axis: 1) }, ref: { v in
            var o: [Double] = []
            for i in 0..<2 { o += v[0][(i * 12)..<(i * 12 + 12)]; o += v[1][(i * 8)..<(i * 8 + 8)] }
            return o })
        try gradCheck("slice", [x], { try slice($0[0], axis: 2, 1..<3) }, ref: { (v: [[Double]]) -> [Double] in
            var o: [Double] = []
            for r in 0..<6 { o.append(v[0][r * 4 + 1]); o.append(v[0][r * 4 + 2]) }
            return o })
        try gradCheck("split", [x], { let p = try split($0[0], axis: 1, sizes: [1, 2]); return try p[0] * p[1] }, ref: { (v: [[Double]]) -> [Double] in
            var o: [Double] = []
            for i in 0..<2 { for j in 0..<2 { for k in 0..<4 { o.append(v[0][(i * 3) * 4 + k] * v[0][(i * 3 + 1 + j) * 4 + k]) } } }
            return o })
        try gradCheck("gather", [x], { try gather($0[0], axis: 1, indices: [2, 0, 2]) }, ref: { (v: [[Double]]) -> [Double] in
            var o: [Double] = []
            for i in 0..<2 { for j in [2, 0, 2] { for k in 0..<4 { o.append(v[0][(i * 3 + j) * 4 + k]) } } }
            return o })
        let mask = try Tensor([1, 0, 0, 1], shape: [4])
        try gradCheck("maskedFill", [x], { try maskedFill($0[0], mask: mask, value: -7) }, ref: { (v: [[Double]]) -> [Double] in
            var o = v[0]
            for i in 0..<o.count where i % 4 == 0 || i % 4 == 3 { o[i] = -7 }
            return o })
        let m2 = try Tensor([1, 0, 1], shape: [3, 1])
        try gradCheck("where", [x, det([4], offset: 2)], { try `where`(m2, $0[0], $0[1]) }, ref: { (v: [[Double]]) -> [Double] in
            var o = v[0]
            for i in 0..<o.count where (i / 4) % 3 == 1 { o[i] = v[1][i % 4] }
            return o })
    }

    @Test func dropoutIsInvertedAndSeeded() throws {
        let x = Tensor.ones([2000])
        var g1 = SplitMix64(seed: 5), g2 = SplitMix64(seed: 5)
        let a = try dropout(x, p: 0.25, generator: &g1), b = try dropout(x, p: 0.25, generator: &g2)
        #expect(a.scalars == b.scalars)
        let kept = a.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 4.0 / 3.0) < 1e-6 })
        #expect(abs(Double(kept.count) / 2000 - 0.75) < 0.05)
        let saved = g1.state
        var g3 = SplitMix64(seed: 0); g3.state = saved
        let xs = det([3, 4]); var g4 = SplitMix64(seed: saved)
        let maskRef = try dropout(Tensor.ones([3, 4]), p: 0.5, generator: &g4).scalars
        try gradCheck("dropout", [xs], { try dropout($0[0], p: 0.5, generator: &g3) },
                      ref: { zip($0[0], maskRef).map { $0 * Double($1) } })
    }

    /// The mask drawn a word at a time (in parallel past 32k elements) equals the serial draws of
    /// `nextFloat()`, element by element, and leaves the generator where those draws would.
    @Test(arguments: [1, 63, 64, 65, 1000, 70_001]) func dropoutMaskIsTheSerialStream(count: Int) throws {
        for p: Float in [0.05, 0.25, 0.5, 1.0 / 3.0] {
            var g = SplitMix64(seed: UInt64(count) &* 31 &+ 7), ref = g
            let mask = DropoutMask(count: count, p: p, generator: &g)
            let got = mask.applied(to: Tensor.ones([count])).scalars
            let keep = 1 / (1 - p)
            let want = (0..<count).map { _ in ref.nextFloat() < p ? Float(0) : keep }
            #expect(got == want, "count \(count), p \(p)")
            #expect(g.state == ref.state)
            let t = try Tensor(det([count]).scalars.map { $0 + 1 }, shape: [count]), before = t.scalars
            mask.apply(inPlace: t)
            #expect(t.scalars == zip(before, want).map { $1 == 0 ? 0 : $0 * keep }, "in place")
        }
    }
}

@Suite struct FusedGradTests {
    @Test func softmaxAndLogSoftmax() throws {
        for c in [1, 5, 17] {
            let x = det([3, c]) * 3
            try gradCheck("softmax c=\(c)", [x], { try softmax($0[0]) }, ref: { softmaxRef($0[0], cols: c, log: false) })
            try gradCheck("logSoftmax c=\(c)", [x], { try logSoftmax($0[0]) }, ref: { softmaxRef($0[0], cols: c, log: true) })
        }
        let big = try softmax(try Tensor([1000, 1001, -1000], shape: [1, 3]))   // stable
        #expect(big.scalars.allSatisfy { $0.isFinite })
    }

    @Test(arguments: [1, 3, 17, 63, 127]) func fastRowKernelsEqualNaive(c: Int) throws {
        let x = det([3, c], offset: c) * 4
        let want = softmaxRef(x.scalars.map(Double.init), cols: c, log: false)
        expectClose(try softmax(x).scalars, want, atol: 1e-6, rtol: 1e-5, "softmax c=\(c)")
        let wantLog = softmaxRef(x.scalars.map(Double.init), cols: c, log: true)
        expectClose(try logSoftmax(x).scalars, wantLog, atol: 1e-5, rtol: 1e-5, "logSoftmax c=\(c)")
        let targets: [Int32] = [0, Int32(c - 1), Int32(c / 2)]
        var ce = 0.0
        for (i, t) in targets.enumerated() { ce -= wantLog[i * c + Int(t)] }
        expectClose([try crossEntropy(logits: x, targets: targets).item], [ce / 3], atol: 1e-5, rtol: 1e-5, "crossEntropy V=\(c)")
    }

    @Test func crossEntropyWithIgnoredTargets() throws {
        let n = 5, v = 7, logits = det([n, v]) * 4
        let targets: [Int32] = [3, -100, 0, 6, -100]
        try gradCheck("crossEntropy", [logits], { try crossEntropy(logits: $0[0], targets: targets) }, ref: { x in
            let ls = softmaxRef(x[0], cols: v, log: true)
            var s = 0.0, c = 0.0
            for (i, t) in targets.enumerated() where t != -100 { s -= ls[i * v + Int(t)]; c += 1 }
            return [s / c] })
        let l = try! Tensor([1, 2], shape: [1, 2]); l.requiresGrad = true
        let z = try crossEntropy(logits: l, targets: [-100])
        #expect(z.item == 0)
        try z.backward()
        #expect(l.grad!.scalars == [0, 0])
    }

    @Test func embeddingScatterAdds() throws {
        let table = det([5, 3]), ids: [Int32] = [4, 1, 4, 0]
        try gradCheck("embedding", [table], { try embedding($0[0], ids: ids, shape: [2, 2]) }, ref: { t in
            ids.flatMap { id in (0..<3).map { t[0][Int(id) * 3 + $0] } } })
    }

    @Test func rmsNorm() throws {
        let x = det([4, 6]), w = det([6], offset: 3) + 1
        try gradCheck("rmsNorm", [x, w], { try Autograd.rmsNorm($0[0], weight: $0[1], eps: 1e-5) }, ref: { v in
            (0..<4).flatMap { r -> [Double] in
                let row = v[0][(r * 6)..<(r * 6 + 6)]
                let rs = 1 / (row.reduce(0) { $0 + $1 * $1 } / 6 + 1e-5).squareRoot()
                return row.enumerated().map { $0.element * rs * v[1][$0.offset] }
            } })
    }

    /// Per-head RMSNorm of queries and keys (Gemma 3): rmsNorm over the last axis of (B, T, H, D) with one (D)
    /// weight shared by all heads; the weight's gradient sums over batch, time and heads.
    @Test func perHeadRMSNorm() throws {
        let (b, t, h, d) = (2, 3, 2, 4)
        let x = det([b, t, h, d], offset: 1), w = det([d], offset: 5) + 1
        try gradCheck("per-head rmsNorm", [x, w], { try Autograd.rmsNorm($0[0], weight: $0[1], eps: 1e-6) }, ref: { v in
            (0..<(b * t * h)).flatMap { r -> [Double] in
                let row = v[0][(r * d)..<(r * d + d)]
                let rs = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(d) + 1e-6).squareRoot()
                return row.enumerated().map { $0.element * rs * v[1][$0.offset] }
            } })
    }

    @Test func rmsNormFastEqualsNaiveOddSizes() throws {
        for (rows, c) in [(1, 1), (3, 17), (63, 127), (127, 63)] {
            let x = det([rows, c], offset: c), w = det([c], offset: 1)
            let y = try Autograd.rmsNorm(x, weight: w, eps: 1e-6).scalars
            var want: [Double] = []
            for r in 0..<rows {
                let row = x.scalars[(r * c)..<((r + 1) * c)].map(Double.init)
                let rs = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(c) + 1e-6).squareRoot()
                want += row.enumerated().map { $0.element * rs * Double(w.scalars[$0.offset]) }
            }
            expectClose(y, want, atol: 1e-5, rtol: 1e-4, "rmsNorm \(rows)×\(c)")
        }
    }

    /// Rows split across the pool: per-worker dw partial sums must add up to the serial answer.
    @Test func rmsNormParallelBackwardEqualsNaive() throws {
        let rows = 301, c = 129
        let x = det([rows, c], offset: 5); x.requiresGrad = true
        let w = det([c], offset: 9) + 1; w.requiresGrad = true
        let g = det([rows, c], offset: 11)
        try Autograd.rmsNorm(x, weight: w, eps: 1e-5).backward(seed: g)
        let xs = x.scalars.map(Double.init), ws = w.scalars.map(Double.init), gs = g.scalars.map(Double.init)
        var dw = [Double](repeating: 0, count: c), dx = [Double](repeating: 0, count: rows * c)
        for r in 0..<rows {
            let row = Array(xs[(r * c)..<((r + 1) * c)]), gr = Array(gs[(r * c)..<((r + 1) * c)])
            let rs = 1 / (row.reduce(0) { $0 + $1 * $1 } / Double(c) + 1e-5).squareRoot()
            var k = 0.0
            for j in 0..<c { dw[j] += gr[j] * row[j] * rs; k += gr[j] * ws[j] * row[j] }
            k *= rs * rs / Double(c)
            for j in 0..<c { dx[r * c + j] = rs * (gr[j] * ws[j] - row[j] * k) }
        }
        expectClose(w.grad!.scalars, dw, atol: 1e-3, rtol: 1e-4, "rmsNorm dw (parallel)")
        expectClose(x.grad!.scalars, dx, atol: 1e-5, rtol: 1e-4, "rmsNorm dx (parallel)")
    }

    @Test func ropeHandComputedAndOffset() throws {
        // D = 4, position 1, theta 100: angles (1, 1/10) for pairs (0,2) and (1,3).
        let x = try Tensor([1, 2, 3, 4], shape: [1, 1, 1, 4])
        let y = try rope(x, positions: [1], theta: 100).scalars
        let c0 = cos(1.0), s0 = sin(1.0), c1 = cos(0.1), s1 = sin(0.1)
        let want = [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1]
        expectClose(y, want, atol: 1e-6, rtol: 1e-6, "rope hand case")
        // Positions offset: rows 2..4 of a full sequence equal a continuation starting at P = 2.
        let full = det([2, 5, 3, 8])
        let all = try rope(full, positions: Array(0..<5), theta: 10000)
        let tail = try rope(try slice(full, axis: 1, 2..<5), positions: [2, 3, 4], theta: 10000)
        expectClose(tail.scalars, try slice(all, axis: 1, 2..<5).scalars.map(Double.init), atol: 1e-6, rtol: 1e-6, "rope offset")
        expectClose(all.scalars, ropeReference(full, positions: Array(0..<5), theta: 10000).scalars.map(Double.init),
                    atol: 1e-5, rtol: 1e-5, "rope vs reference")
        // Linear scaling by 2 at position 2 equals no scaling at position 1.
        let s2 = try rope(x, positions: [2], theta: 100, scaling: .linear(factor: 2))
        expectClose(s2.scalars, want, atol: 1e-6, rtol: 1e-6, "rope linear scaling")
        let pos = [3, 4, 7]
        try gradCheck("rope", [det([2, 3, 2, 6])], { try rope($0[0], positions: pos, theta: 50) }, ref: { v in
            var o = v[0]
            for bt in 0..<6 { for h in 0..<2 { for i in 0..<3 {
                let a = Double(pos[bt % 3]) * Foundation.pow(50, -Double(2 * i) / 6), base = (bt * 2 + h) * 6
                o[base + i] = v[0][base + i] * cos(a) - v[0][base + i + 3] * sin(a)
                o[base + i + 3] = v[0][base + i + 3] * cos(a) + v[0][base + i] * sin(a)
            } } }
            return o })
    }
}

@Suite struct AttentionTests {
    struct Case: CustomStringConvertible, Sendable {
        var b, t, hq, hkv, d, p, pb: Int; var window: Int?
        var description: String { "B\(b) T\(t) Hq\(hq) Hkv\(hkv) D\(d) P\(p) pastB\(pb) W\(window.map(String.init) ?? "-")" }
    }
    static let cases = [
        Case(b: 1, t: 5, hq: 2, hkv: 2, d: 4, p: 0, pb: 0, window: nil),
        Case(b: 2, t: 6, hq: 4, hkv: 2, d: 4, p: 0, pb: 0, window: nil),        // GQA
        Case(b: 2, t: 4, hq: 3, hkv: 1, d: 4, p: 3, pb: 2, window: nil),        // past prefix
        Case(b: 3, t: 3, hq: 2, hkv: 1, d: 2, p: 4, pb: 1, window: nil),        // batch-1 past broadcast
        Case(b: 2, t: 7, hq: 4, hkv: 2, d: 4, p: 2, pb: 1, window: 3),          // sliding window
        Case(b: 1, t: 70, hq: 2, hkv: 1, d: 4, p: 5, pb: 1, window: 40),        // two row blocks, two workers
        Case(b: 2, t: 67, hq: 2, hkv: 2, d: 2, p: 0, pb: 0, window: nil),       // two row blocks, no past
    ]
    @Test(arguments: cases) func againstDoubleReference(c: Case) throws {
        let q = det([c.b, c.t, c.hq, c.d], offset: 1), k = det([c.b, c.t, c.hkv, c.d], offset: 2), v = det([c.b, c.t, c.hkv, c.d], offset: 3)
        var ins = [q, k, v]
        if c.p > 0 { ins += [det([c.pb, c.p, c.hkv, c.d], offset: 4), det([c.pb, c.p, c.hkv, c.d], offset: 5)] }
        try gradCheck("attention \(c)", ins, {
            try causalAttention(q: $0[0], k: $0[1], v: $0[2], past: c.p > 0 ? (k: $0[3], v: $0[4]) : nil, window: c.window)
        }, ref: { x in
            attentionRef(x[0], x[1], x[2], c.p > 0 ? x[3] : nil, c.p > 0 ? x[4] : nil,
                         b: c.b, t: c.t, hq: c.hq, hkv: c.hkv, d: c.d, p: c.p, pb: c.pb, window: c.window)
        })
    }

    /// An explicit score scale (Gemma: query_pre_attn_scalar^-½ instead of 1/√D), with a window and a past.
    @Test func explicitScale() throws {
        let (b, t, hq, hkv, d, p) = (2, 5, 4, 2, 4, 3)
        let ins = [det([b, t, hq, d], offset: 1), det([b, t, hkv, d], offset: 2), det([b, t, hkv, d], offset: 3),
                   det([1, p, hkv, d], offset: 4), det([1, p, hkv, d], offset: 5)]
        try gradCheck("attention scale 0.3", ins, {
            try causalAttention(q: $0[0], k: $0[1], v: $0[2], past: (k: $0[3], v: $0[4]), window: 4, scale: 0.3)
        }, ref: { x in
            attentionRef(x[0], x[1], x[2], x[3], x[4], b: b, t: t, hq: hq, hkv: hkv, d: d, p: p, pb: 1, window: 4, scale: 0.3)
        })
    }

    @Test(arguments: [1, 3, 17, 63, 127]) func fastEqualsNaive(t: Int) throws {
        let q = det([1, t, 6, 16], offset: 1), k = det([1, t, 2, 16], offset: 2), v = det([1, t, 2, 16], offset: 3)
        let pk = det([1, 5, 2, 16], offset: 6), pv = det([1, 5, 2, 16], offset: 7)
        for window in [nil, 40] as [Int?] {
            let fast = try causalAttention(q: q, k: k, v: v, past: (k: pk, v: pv), window: window)
            let slow = attentionReference(q: q, k: k, v: v, past: (k: pk, v: pv), window: window)
            expectClose(fast.scalars, slow.scalars.map(Double.init), atol: 1e-5, rtol: 1e-4, "attention T=\(t) W=\(window ?? 0)")
        }
    }

    /// Two pasts: a document broadcast to every row, then per row one of a few stems of its own length
    /// (a row with length 0 reads no stem). Values and gradients of every input, pasts included.
    @Test(arguments: [(3, 4, 4, 2, 4, nil), (3, 4, 4, 2, 4, 5), (2, 66, 2, 1, 2, nil)] as [(Int, Int, Int, Int, Int, Int?)])
    func severalRaggedPasts(b: Int, t: Int, hq: Int, hkv: Int, d: Int, window: Int?) throws {
        let doc = PastRef(p: 3, rows: Array(repeating: 0, count: b), lengths: Array(repeating: 3, count: b))
        let stem = PastRef(p: 4, rows: [0, 1, 1].prefix(b).map { $0 }, lengths: [4, 2, 0].prefix(b).map { $0 })
        let ins = [det([b, t, hq, d], offset: 1), det([b, t, hkv, d], offset: 2), det([b, t, hkv, d], offset: 3),
                   det([1, 3, hkv, d], offset: 4), det([1, 3, hkv, d], offset: 5), det([2, 4, hkv, d], offset: 6), det([2, 4, hkv, d], offset: 7)]
        try gradCheck("attention after a document and ragged stems B\(b) T\(t) W\(window ?? 0)", ins, {
            try causalAttention(q: $0[0], k: $0[1], v: $0[2], pasts: [
                AttentionPast(k: $0[3], v: $0[4]),
                AttentionPast(k: $0[5], v: $0[6], rows: stem.rows, lengths: stem.lengths)], window: window)
        }, ref: { x in
            segmentedAttentionRef(x[0], x[1], x[2], pasts: [(x[3], x[4], doc), (x[5], x[6], stem)],
                                  b: b, t: t, hq: hq, hkv: hkv, d: d, window: window)
        })
    }

    @Test func badPastRowsOrLengthsAreErrors() throws {
        let q = det([2, 3, 2, 4]), k = det([2, 3, 1, 4]), pk = det([2, 4, 1, 4])
        #expect(throws: TensorError.self) { try causalAttention(q: q, k: k, v: k, pasts: [AttentionPast(k: pk, v: pk, rows: [0, 2])]) }
        #expect(throws: TensorError.self) { try causalAttention(q: q, k: k, v: k, pasts: [AttentionPast(k: pk, v: pk, lengths: [5, 1])]) }
        #expect(throws: TensorError.self) { try causalAttention(q: q, k: k, v: k, pasts: [AttentionPast(k: pk, v: pk, rows: [0])]) }
    }

    @Test func prefixPlusContinuationEqualsFullSequence() throws {
        let t = 9, p = 4
        let q = det([1, t, 4, 8], offset: 1), k = det([1, t, 2, 8], offset: 2), v = det([1, t, 2, 8], offset: 3)
        let full = try causalAttention(q: q, k: k, v: v)
        let tail = try causalAttention(q: try slice(q, axis: 1, p..<t), k: try slice(k, axis: 1, p..<t), v: try slice(v, axis: 1, p..<t),
                                       past: (k: try slice(k, axis: 1, 0..<p), v: try slice(v, axis: 1, 0..<p)))
        expectClose(tail.scalars, try slice(full, axis: 1, p..<t).scalars.map(Double.init), atol: 1e-6, rtol: 1e-5, "prefix continuation")
    }
}
