// Tape behaviour: checkpointing, error messages, a small end-to-end training run, generator state.
import Foundation
import Support
import Testing
@testable import Autograd

@Suite struct TapeTests {
    @Test func checkpointGivesSameGradients() throws {
        func run(checkpointed: Bool) throws -> [[Float]] {
            let x = det([4, 6], offset: 1); x.requiresGrad = true
            let w1 = det([8, 6], offset: 2); w1.requiresGrad = true
            let w2 = det([3, 8], offset: 3); w2.requiresGrad = true
            let g = det([8], offset: 4) + 1; g.requiresGrad = true
            let block: ([Tensor]) throws -> Tensor = { ins in
                let h = try matmul(ins[0], w1, transposeB: true)
                return try rmsNorm(h.silu(), weight: g, eps: 1e-5)
            }
            let h = checkpointed ? try checkpoint([x], block) : try block([x])
            let loss = try crossEntropy(logits: try matmul(h, w2, transposeB: true), targets: [0, 2, -100, 1])
            try loss.backward()
            return [x, w1, w2, g].map { $0.grad!.scalars }
        }
        let plain = try run(checkpointed: false), ck = try run(checkpointed: true)
        for (a, b) in zip(plain, ck) { expectClose(a, b.map(Double.init), atol: 0, rtol: 1e-6, "checkpoint grads") }
    }

    @Test func checkpointRecordsNothingInside() throws {
        let x = det([2, 3]); x.requiresGrad = true
        var seen: Tensor?
        let y = try checkpoint([x]) { ins in let t = ins[0].silu(); seen = t; return t }
        #expect(seen?.node == nil)         // the first (forward) run is unrecorded
        #expect(y.node != nil)
    }

    @Test func errorsNameOpAndShapes() throws {
        let a = Tensor.zeros([2, 3]), b = Tensor.zeros([4, 5])
        #expect(throws: TensorError("matmul: inner dimensions differ: (2, 3) × (4, 5)")) { try matmul(a, b) }
        #expect(throws: TensorError("add: shapes do not broadcast: (2, 3) and (4, 5)")) { try a + b }
        #expect(throws: TensorError("reshape: cannot reshape (2, 3) to (4, 2)")) { try a.reshaped([4, 2]) }
        #expect(throws: TensorError("backward: needs a scalar (one element), got shape (2, 3)")) { try a.backward() }
        #expect(throws: TensorError("rmsNorm: weight (4) does not match last axis of (2, 3)")) { try rmsNorm(a, weight: .zeros([4]), eps: 1e-5) }
        #expect(throws: TensorError("crossEntropy: target 3 out of range 0..<3 for logits (2, 3)")) {
            try crossEntropy(logits: a, targets: [0, 3])
        }
        #expect(throws: TensorError("sum: axis 2 out of range for shape (2, 3)")) { try a.sum(axes: [2]) }
        #expect(throws: TensorError("embedding: id 9 out of range 0..<2 for table (2, 3)")) { try embedding(a, ids: [9]) }
        #expect(throws: TensorError("causalAttention: 3 query heads are not a multiple of 2 KV heads: q (1, 2, 3, 4), k (1, 2, 2, 4)")) {
            try causalAttention(q: .zeros([1, 2, 3, 4]), k: .zeros([1, 2, 2, 4]), v: .zeros([1, 2, 2, 4]))
        }
        #expect(throws: TensorError("rope: x must be (B, T, H, D) with even D, got (1, 2, 3, 5)")) {
            try rope(.zeros([1, 2, 3, 5]), positions: [0, 1], theta: 10000)
        }
        #expect(throws: TensorError("Tensor: 3 values do not fill shape (2, 2)")) { try Tensor([1, 2, 3], shape: [2, 2]) }
        #expect(throws: TensorError("concat: shapes differ off axis 0: (2, 3), (4, 5)")) { try concat([a, b], axis: 0) }
    }

    /// Linear–SiLU–Linear on a fixed seeded 3-class problem, plain SGD: loss must fall below 0.15.
    @Test func twoLayerNetworkLearns() throws {
        var g = SplitMix64(seed: 42)
        let n = 64, inDim = 4, hidden = 16, classes = 3
        let x = Tensor.randn([n, inDim], generator: &g)
        // Labels from a fixed rule on the inputs: argmax of three linear scores.
        let targets: [Int32] = (0..<n).map { i in
            let r = x.scalars[(i * inDim)..<((i + 1) * inDim)]
            let s = [r[r.startIndex] + r[r.startIndex + 1], r[r.startIndex + 2] - r[r.startIndex], -r[r.startIndex + 3] - r[r.startIndex + 1]]
            return Int32(s.firstIndex(of: s.max()!)!)
        }
        let w1 = Tensor.randn([hidden, inDim], std: 0.5, generator: &g, requiresGrad: true)
        let b1 = Tensor.zeros([hidden], requiresGrad: true)
        let w2 = Tensor.randn([classes, hidden], std: 0.5, generator: &g, requiresGrad: true)
        let b2 = Tensor.zeros([classes], requiresGrad: true)
        let params = [w1, b1, w2, b2]
        var first: Float = 0, last: Float = 0
        for step in 0..<300 {
            let h = try (matmul(x, w1, transposeB: true) + b1).silu()
            let logits = try matmul(h, w2, transposeB: true) + b2
            let loss = try crossEntropy(logits: logits, targets: targets)
            if step == 0 { first = loss.item }
            last = loss.item
            zeroGrad(params)
            try loss.backward()
            for p in params { let d = p.data, gr = p.grad!.data; for i in 0..<p.count { d[i] -= 0.5 * gr[i] } }
        }
        #expect(first > 0.8)
        #expect(last < 0.15, "final loss \(last) (first \(first))")
    }

    @Test func generatorStateRoundTrips() {
        var a = SplitMix64(seed: 123)
        _ = a.next(); _ = a.next()
        let saved = a.state
        let x = (0..<5).map { _ in a.next() }
        var b = SplitMix64(seed: 0); b.state = saved
        #expect((0..<5).map { _ in b.next() } == x)
        let r1 = Tensor.randn([100], seed: 7).scalars, r2 = Tensor.randn([100], seed: 7).scalars
        #expect(r1 == r2)
        let m = r1.reduce(0, +) / 100
        #expect(abs(m) < 0.4)
    }

    @Test func fastExpMatchesLibm() {
        var worst: Double = 0
        for i in -8000...8000 {
            let x = Float(i) / 100
            let e = Double(fastExp(x)), r = Foundation.exp(Double(x))
            worst = max(worst, abs(e - r) / r)
        }
        #expect(worst < 1e-6, "worst relative error \(worst)")
    }

    @Test func threadSettingIsPositive() { #expect(Threads.count >= 1) }
}

@Suite struct CustomOpTests {
    /// y = x³ as a hand-written op; `wrong` scales the gradient to show the check can fail.
    func cube(_ x: Tensor, wrong: Float = 1) -> Tensor {
        let y = Tensor.uninitialized(x.shape)
        for i in 0..<x.count { y.data[i] = x.data[i] * x.data[i] * x.data[i] }
        guard isRecording([x]) else { return y }
        return y.recorded("cube", inputs: [x]) { dy in
            let dx = Tensor.uninitialized(x.shape)
            for i in 0..<x.count { dx.data[i] = wrong * 3 * x.data[i] * x.data[i] * dy.data[i] }
            return [dx]
        }
    }
    @Test func gradientCheckPassesAndFails() throws {
        let x = det([5])
        #expect(try gradientCheck([x]) { self.cube($0[0]) }.passed)
        #expect(try !gradientCheck([x]) { self.cube($0[0], wrong: 1.1) }.passed)
        let w = det([3, 5], offset: 2)
        let r = try gradientCheck([det([2, 5]), w]) { try matmul($0[0], $0[1], transposeB: true) }
        #expect(r.passed, "\(r)")
        let xr = det([5]); xr.requiresGrad = true
        #expect(withNoGrad { cube(xr).node == nil })
        #expect(cube(xr).node != nil)
    }
}
