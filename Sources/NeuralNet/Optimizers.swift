// AdamW (decoupled weight decay, bias-corrected moments), learning-rate schedules with warm-up, and
// clipping by global gradient norm. The update is a pure function of one parameter's values, gradient
// and value-type state; `AdamW` only keeps that state per parameter name. Not a general optimizer zoo.
import Autograd
import Foundation

/// Hyper-parameters of AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization";
/// defaults as `torch.optim.AdamW`, except weight decay, which QLoRA fine-tuning leaves at 0).
public struct AdamWConfig: Codable, Sendable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0
    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }
}

/// First and second moments of one parameter and how many updates it has had.
public struct AdamWState: Sendable, Equatable {
    public var m: [Float]
    public var v: [Float]
    public var step: Int
    public init(count: Int) { m = Array(repeating: 0, count: count); v = m; step = 0 }
    public init(m: [Float], v: [Float], step: Int) { self.m = m; self.v = v; self.step = step }
}

/// One AdamW update of `count` values in place, exactly as `torch.optim.AdamW` (single-tensor path):
///
///     p ← p − lr·λ·p;   m ← β₁m + (1−β₁)g;   v ← β₂v + (1−β₂)g²
///     p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
public func adamWUpdate(_ p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>, count: Int,
                        state: inout AdamWState, lr: Float, config c: AdamWConfig) {
    state.step += 1
    let t = Float(state.step)
    let bc1 = 1 - Foundation.pow(c.beta1, t), bc2 = 1 - Foundation.pow(c.beta2, t)
    let stepSize = lr / bc1, bc2Root = bc2.squareRoot(), decay = 1 - lr * c.weightDecay
    state.m.withUnsafeMutableBufferPointer { m in
        state.v.withUnsafeMutableBufferPointer { v in
            for i in 0..<count {
                p[i] *= decay
                m[i] = c.beta1 * m[i] + (1 - c.beta1) * g[i]
                v[i] = c.beta2 * v[i] + (1 - c.beta2) * g[i] * g[i]
                p[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Root + c.eps)
            }
        }
    }
}

/// AdamW over named parameters; state is kept per name so that it can be checkpointed and restored.
///
///     let opt = AdamW(config: AdamWConfig())
///     try opt.step(model.trainableParameters(), lr: schedule.learningRate(at: step))
public final class AdamW {
    public var config: AdamWConfig
    public var states: [String: AdamWState] = [:]
    public init(config: AdamWConfig = AdamWConfig()) { self.config = config }

    /// Updates every parameter that has a gradient; parameters without one are left alone.
    public func step(_ parameters: [(String, Parameter)], lr: Float) throws {
        for (name, p) in parameters {
            guard let g = p.grad else { continue }
            guard g.shape == p.shape else {
                throw TensorError("AdamW.step: gradient \(g.shape) of \(name) does not match its shape \(p.shape)")
            }
            var s = states[name] ?? AdamWState(count: p.value.count)
            guard s.m.count == p.value.count else {
                throw TensorError("AdamW.step: state of \(name) has \(s.m.count) values, the parameter \(p.value.count)")
            }
            adamWUpdate(p.value.data, grad: g.data, count: p.value.count, state: &s, lr: lr, config: config)
            states[name] = s
        }
    }
}

/// Learning rate as a function of the optimizer step (0-based: the first update uses step 0), with linear
/// warm-up, as HF transformers' `get_{constant,linear,cosine}_schedule_with_warmup`.
///
///     let s = LearningRateSchedule(kind: .cosine, peak: 5e-5, warmupSteps: 10, totalSteps: 1000)
///     s.learningRate(at: 0)        // 0: warm-up starts from zero
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case constant, linear, cosine }
    public var kind: Kind
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(kind: Kind, peak: Float, warmupSteps: Int = 0, totalSteps: Int) {
        self.kind = kind; self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    /// The multiplier of `peak` at `step`.
    public func factor(at step: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        switch kind {
        case .constant: return 1
        case .linear: return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine: return max(0, 0.5 * (1 + Foundation.cos(Double.pi * progress)))   // half a cycle
        }
    }

    public func learningRate(at step: Int) -> Float { Float(Double(peak) * factor(at: step)) }
}

/// Scales the gradients of `parameters` so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` (coefficient maxNorm / (norm + 1e-6) when below 1). Returns the
/// norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var total = 0.0
    for p in parameters { if let g = p.grad { for i in 0..<g.count { total += Double(g.data[i]) * Double(g.data[i]) } } }
    let norm = Float(total.squareRoot())
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        for p in parameters { if let g = p.grad { for i in 0..<g.count { g.data[i] *= coefficient } } }
    }
    return norm
}
