import Support
// Extension points for other layers: recording a hand-written op on the tape, and a Float32
// finite-difference gradient check for such ops. Not used by the ops in this module.

/// True when an op over `inputs` must be recorded (grad mode on and some input requires grad).
/// Check it before building the backward closure, so the no-grad path allocates nothing.
public func isRecording(_ inputs: [Tensor]) -> Bool { recording(inputs) }

extension Tensor {
    /// An uninitialised tensor for kernels that write every element.
    public static func uninitialized(_ shape: [Int]) -> Tensor { Tensor(uninitialized: shape) }

    /// A node-free handle on this tensor's storage: what a backward closure should capture of the op's
    /// own output (capturing the output itself would be a retain cycle through its node).
    public func savedForBackward() -> Tensor { alias() }

    /// Record this freshly computed tensor as the output of a hand-written op. `backward` maps the output
    /// gradient to one gradient per input (nil where none is needed, e.g. a frozen weight); it may return a
    /// broadcast-shaped gradient, which the tape reduces. Returns `self`.
    ///
    ///     let y = kernel(x, w)
    ///     guard isRecording([x]) else { return y }
    ///     return y.recorded("dequantMatmul", inputs: [x]) { dy in [kernelBackward(dy, w)] }
    public func recorded(_ name: String, inputs: [Tensor], backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        record(name, inputs, backward)
    }
}

/// Result of `gradientCheck`: the worst input element and whether all were within tolerance.
public struct GradientCheckReport: CustomStringConvertible {
    public var passed: Bool
    public var worstInput = 0, worstIndex = 0
    public var analytic: Float = 0, numeric: Float = 0
    public var description: String {
        "gradientCheck \(passed ? "passed" : "FAILED"): input \(worstInput)[\(worstIndex)] analytic \(analytic) numeric \(numeric)"
    }
}

/// Compare the analytic gradient of L = Σ w⊙f(inputs) (w fixed pseudo-random) with Float32 central
/// differences. Float32 differences are coarse: keep `eps` near 1e-2…1e-3 and tolerances loose, or write a
/// Float64 reference of the forward as the Autograd tests do.
///
///     let r = try gradientCheck([x, w]) { try matmul($0[0], $0[1]) }
///     #expect(r.passed, "\(r)")
public func gradientCheck(_ inputs: [Tensor], eps: Float = 1e-2, atol: Float = 1e-2, rtol: Float = 1e-2,
                          _ f: ([Tensor]) throws -> Tensor) throws -> GradientCheckReport {
    let leaves = inputs.map { x -> Tensor in let l = x.copy(); l.requiresGrad = true; return l }
    let y = try f(leaves)
    var g = SplitMix64(seed: 12345)
    let w = Tensor.uniform(y.shape, low: -1, high: 1, generator: &g)
    try y.backward(seed: w)
    func loss(_ xs: [Tensor]) throws -> Double {
        let out = try withNoGrad { try f(xs) }
        var s = 0.0
        for i in 0..<out.count { s += Double(out.data[i]) * Double(w.data[i]) }
        return s
    }
    var report = GradientCheckReport(passed: true)
    var worst: Float = -1
    for (i, leaf) in leaves.enumerated() {
        let probe = leaves.map { $0.detach().copy() }
        for j in 0..<leaf.count {
            let x0 = probe[i].data[j]
            probe[i].data[j] = x0 + eps; let fp = try loss(probe)
            probe[i].data[j] = x0 - eps; let fm = try loss(probe)
            probe[i].data[j] = x0
            let num = Float((fp - fm) / (2 * Double(eps))), ana = leaf.grad?.data[j] ?? 0
            let err = abs(num - ana), ok = err <= atol || err <= rtol * max(abs(num), abs(ana))
            let excess = err / max(atol, rtol * max(abs(num), abs(ana)))
            if !ok { report.passed = false }
            if excess > worst { worst = excess; report.worstInput = i; report.worstIndex = j; report.analytic = ana; report.numeric = num }
        }
    }
    return report
}
