// The training loop learns, is deterministic, and resumes exactly from its captured state.
import Autograd
import Foundation
import LanguageModels
import ModelFormats
import NeuralNet
import Support
import Testing
@testable import FineTuning

@Suite struct TrainerTests {
    let groups = [
        PrefixGroup(prefix: [3, 14, 15, 9], continuations: [Continuation(prompt: [1], answer: [7, 7, 4]),
                                                            Continuation(prompt: [2], answer: [40, 41])]),
        PrefixGroup(prefix: [26, 5, 35], continuations: [Continuation(prompt: [1], answer: [8, 9])]),
        PrefixGroup(prefix: [30, 31], continuations: [Continuation(prompt: [2, 3], answer: [12]),
                                                      Continuation(prompt: [1], answer: [50, 51, 52])]),
    ]

    func trainer(_ model: LlamaModel, steps: Int, weights: TrainedWeights = .adapter("facts")) throws -> Trainer {
        try Trainer(model: model, weights: weights, groups: groups,
                    options: TrainingOptions(steps: steps, accumulation: 2, learningRate: 3e-2, warmupSteps: 2, weightDecay: 0.01, seed: 7))
    }

    func freshModel() throws -> LlamaModel {
        let m = try PrefixTreeTests().tinyModel()
        // Dropout on, so that generator state matters for an exact resume.
        for (_, l) in m.linearLayers(matching: ["q_proj", "v_proj"]) {
            var g = SplitMix64(seed: 99)
            let b = l.adapters["facts"]!.b.value
            try l.addAdapter("facts", rank: 4, scale: 2, dropout: 0.1, generator: &g)
            l.adapters["facts"]!.b.value = b
        }
        m.activateAdapter("facts")
        return m
    }

    func adapterValues(_ m: LlamaModel) -> [[Float]] { m.adapterParameters("facts").map { $0.1.value.scalars } }
    /// The values `weights` names: the adapter's, or every base weight's (by key).
    func trainedValues(_ m: LlamaModel, _ weights: TrainedWeights) -> [String: [Float]] {
        let ps = weights == .all ? m.namedParameters().filter { !$0.0.contains(".lora_") } : m.adapterParameters("facts")
        return Dictionary(uniqueKeysWithValues: ps.map { ($0.0, $0.1.value.scalars) })
    }

    @Test func lossFallsOnAFixedSet() throws {
        let m = try freshModel()
        let t = try trainer(m, steps: 40)
        var first: Float = 0, last: Float = 0
        for i in 0..<40 { let s = try t.step(); if i < 3 { first += s.loss / 3 }; if i >= 37 { last += s.loss / 3 } }
        #expect(last < 0.5 * first, "loss \(first) → \(last)")
    }

    /// The adapter alone, and full fine-tuning (every base weight; the adapter stays as it was).
    @Test(arguments: [TrainedWeights.adapter("facts"), .all])
    func resumedRunEqualsUninterruptedRun(_ weights: TrainedWeights) throws {
        let a = try freshModel()
        let straight = try trainer(a, steps: 8, weights: weights)
        for _ in 0..<8 { _ = try straight.step() }

        let b = try freshModel()
        let first = try trainer(b, steps: 8, weights: weights)
        for _ in 0..<3 { _ = try first.step() }
        // Through an HDF5 checkpoint on disk, into a fresh model and trainer.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autore-resume-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.checkpoint(config: "name: test").save(to: path)
        let c = try freshModel()
        let resumed = try trainer(c, steps: 8, weights: weights)
        try resumed.restore(try Checkpoint(contentsOf: path), source: path)
        for _ in 3..<8 { _ = try resumed.step() }
        #expect(trainedValues(c, weights) == trainedValues(a, weights))
        #expect(resumed.state == straight.state)
        // Not vacuous: training moved every trained tensor (embeddings shared with the head, norms and
        // projections in full fine-tuning), and nothing else.
        let start = try freshModel()
        for (key, v) in trainedValues(start, weights) { #expect(v != trainedValues(a, weights)[key], "\(key) did not change") }
        if weights == .all { #expect(adapterValues(a) == adapterValues(start)) }
    }

    @Test func dataOrderCoversEveryGroupEachEpoch() throws {
        let t = try trainer(try freshModel(), steps: 1)
        #expect(t.order(epoch: 0).sorted() == [0, 1, 2])
        #expect(t.order(epoch: 3).sorted() == [0, 1, 2])
    }
}
