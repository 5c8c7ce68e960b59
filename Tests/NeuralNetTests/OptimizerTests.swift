// AdamW, schedules and clipping against torch.optim.AdamW + HF's cosine schedule (Scripts/make_adamw_golden.py).
import Autograd
import Foundation
import Testing
@testable import NeuralNet

@Suite struct OptimizerTests {
    struct Golden: Decodable {
        struct Step: Decodable { let lr: Float; let grad_norm: Float; let params: [[Float]] }
        let shapes: [[Int]]
        let trajectory: [Step]
    }

    @Test func adamWMatchesTorchStepByStep() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/adamw_golden.json")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        let params = try golden.shapes.enumerated().map { j, shape in
            let n = shape.reduce(1, *)
            return Parameter(try Tensor((0..<n).map { Float(cos(0.5 * Double($0) + Double(j))) }, shape: shape))
        }
        let named = params.enumerated().map { ("p\($0.offset)", $0.element) }
        let opt = AdamW(config: AdamWConfig(weightDecay: 0.01))
        let schedule = LearningRateSchedule(kind: .cosine, peak: 1e-2, warmupSteps: 3, totalSteps: 10)
        var worst: Float = 0
        for (k, ref) in golden.trajectory.enumerated() {
            for p in params {
                let g = (0..<p.value.count).map { Float(sin(0.37 * Double($0 + 1) * Double(k + 1)) * (1 + 0.5 * Double(k))) }
                p.value.grad = try Tensor(g, shape: p.shape)
            }
            let norm = clipGradientNorm(params, maxNorm: 1)
            #expect(abs(norm - ref.grad_norm) <= 1e-4 * ref.grad_norm, "step \(k) norm")
            let lr = schedule.learningRate(at: k)
            #expect(abs(lr - ref.lr) <= 1e-9, "step \(k) lr \(lr) vs \(ref.lr)")
            try opt.step(named, lr: lr)
            for (p, want) in zip(params, ref.params) {
                for (a, b) in zip(p.value.scalars, want) {
                    let err = abs(a - b)
                    worst = max(worst, err)
                    #expect(err <= 1e-6 || err <= 1e-5 * max(abs(a), abs(b)), "step \(k): \(a) vs \(b)")
                }
            }
        }
        print("AdamW vs torch: max |Δp| over 10 steps = \(worst)")
        // Not vacuous: the parameters moved.
        #expect(abs(params[0].value.scalars[0] - 1) > 1e-3)
    }

    @Test func schedulesMatchHandComputedValues() {
        let c = LearningRateSchedule(kind: .constant, peak: 2, warmupSteps: 4, totalSteps: 10)
        #expect([0, 1, 4, 9].map { c.learningRate(at: $0) } == [0, 0.5, 2, 2])
        let l = LearningRateSchedule(kind: .linear, peak: 1, warmupSteps: 2, totalSteps: 10)
        #expect([0, 1, 2, 6, 10, 12].map { l.learningRate(at: $0) } == [0, 0.5, 1, 0.5, 0, 0])
        let cos = LearningRateSchedule(kind: .cosine, peak: 1, warmupSteps: 0, totalSteps: 4)
        let want: [Float] = [1, 0.853553, 0.5, 0.146447, 0]
        for (s, w) in want.enumerated() { #expect(abs(cos.learningRate(at: s) - w) < 1e-6) }
    }

    @Test func clippingLeavesSmallGradientsAlone() throws {
        let p = Parameter(Tensor.zeros([3]))
        p.value.grad = try Tensor([0.1, 0.2, 0.2], shape: [3])
        #expect(abs(clipGradientNorm([p], maxNorm: 1) - 0.3) < 1e-6)
        #expect(p.grad!.scalars == [0.1, 0.2, 0.2])
        p.value.grad = try Tensor([3, 4, 0], shape: [3])
        #expect(clipGradientNorm([p], maxNorm: 1) == 5)
        #expect(abs(p.grad!.scalars[0] - 0.6) < 1e-6 && abs(p.grad!.scalars[1] - 0.8) < 1e-6)
    }
}
