// Full fine-tuning (every weight trained) against torch (goldens from Scripts/make_full_ft_golden.py, same
// GGUF): the same losses step by step and the same logits after; the trained weights written under HF names
// and read back exactly; quantized bases refused. Exact resume: TrainerTests.
import Autograd
import FineTuning
import Foundation
import ModelFormats
import NeuralNet
import Support
import TestSupport
import Testing
@testable import LanguageModels

struct FullFineTuningMeta: Decodable {
    let steps: Int, lr: Float, betas: [Float], eps: Float, weight_decay: Float, max_grad_norm: Float
    let schedule: String, parameters: Int
}

@Suite(.serialized) struct FullFineTuningTests {
    func logits(_ model: LlamaModel, _ ids: [Int]) throws -> Tensor {
        try withNoGrad { try model.logits(model.forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).hidden) }
    }

    func error(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("autore-full-\(UUID().uuidString)").path
    }

    let groups = [PrefixGroup(prefix: [3, 14, 15], continuations: [Continuation(prompt: [1], answer: [7, 7, 4])])]

    func tiny() throws -> LlamaModel {
        try LlamaModel.load(path: TinyLlama(vocabulary: 53, hidden: 24, intermediate: 40, heads: 4, kvHeads: 2,
                                            tiedEmbeddings: true, seed: 5).writeTemporary())
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.smolLM2Path), "SmolLM2 GGUF not found (run Scripts/setup)"))
    func trainingMatchesTorch() throws {
        let golden = try TrainingGolden<FullFineTuningMeta>.load("full_ft_parity.json")
        let m = golden.meta
        #expect(m.schedule == "constant" && m.betas == [0.9, 0.999] && m.eps == 1e-8)
        let model = try LlamaModel.load(path: Fixtures.smolLM2Path)
        // torch counts the tied embedding once, as the parameter tree does.
        let count = model.namedParameters().reduce(0) { $0 + $1.1.value.count }
        #expect(count == m.parameters, "\(count) weights here, \(m.parameters) in torch")
        let probesBefore = try #require(golden.probes_before), probesAfter = try #require(golden.probes_after)
        func probes() -> [String: [Float]] {
            Dictionary(uniqueKeysWithValues: probesBefore.keys.map { ($0, Array(model.parameter($0)!.value.scalars.prefix(4))) })
        }
        for (name, ours) in probes() { #expect(maxAbsDiff(ours, probesBefore[name]!) <= 1e-6, "\(name) before training") }

        let group = PrefixGroup(prefix: [], continuations: golden.batch.map { Continuation(prompt: [$0[0]], answer: Array($0.dropFirst())) })
        let trainer = try Trainer(model: model, weights: .all, groups: [group], options: TrainingOptions(
            steps: m.steps, learningRate: m.lr, schedule: .constant, maxGradNorm: m.max_grad_norm, weightDecay: m.weight_decay))
        #expect(trainer.parameters.count == model.namedParameters().count)
        let worstLoss = try expectLosses(of: trainer, match: golden.losses, within: 1e-3)
        print("full fine-tuning: max relative loss difference over \(golden.losses.count) steps: \(worstLoss)")
        // An update is at most about lr per step per weight; the trained values agree far below the total move.
        for (name, ours) in probes() {
            let ref = probesAfter[name]!, before = probesBefore[name]!
            #expect(maxAbsDiff(ours, ref) <= 2e-5, "\(name) after training: \(ours) vs torch \(ref)")
            #expect(maxAbsDiff(ref, before) > 1e-4, "\(name) did not move in torch")
        }

        let trained = try logits(model, golden.eval_ids)
        let worstLogit = maxTop5Difference(trained, ids: golden.top5_ids, values: golden.top5_logits)
        print("full fine-tuning: max |logit − torch| after training (top-5 at \(golden.eval_ids.count) positions): \(worstLogit)")
        // Looser than the adapter's 1e-3: AdamW's m/√v turns rounding-level differences in the tiny gradients
        // of some of the 135M weights into updates of up to lr each, and the logits add them up.
        #expect(worstLogit <= 1e-2)

        // Written under HF names and read back over the base's config: the same logits, bit for bit.
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try model.writeWeights(to: dir)
        let reread = try LlamaModel.load(config: model.config, weights: SafetensorsWeights(directory: dir))
        #expect(try logits(reread, golden.eval_ids).scalars == trained.scalars)
        // Non-vacuity: the base's logits are far from the trained ones.
        let base = try logits(try LlamaModel.load(path: Fixtures.smolLM2Path), golden.eval_ids)
        let moved = maxAbsDiff(base.scalars, trained.scalars)
        print("full fine-tuning: training moved the logits by up to \(moved)")
        #expect(moved > 100 * 1e-2)
    }

    @Test func weightsRoundTripUnderTheirCheckpointNames() throws {
        for tied in [true, false] {
            let source = TinyLlama(tiedEmbeddings: tied, seed: 3)
            let model = try LlamaModel.load(path: try source.writeTemporary())
            try model.addAdapter("x", config: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: ["q_proj"]), seed: 1)
            let written = try model.weightTensors()
            #expect(!written.contains { $0.name.contains("lora") })
            let original = Dictionary(uniqueKeysWithValues: source.tensors().map { ($0.name, $0) })
            #expect(Set(written.map(\.name)) == Set(original.keys), "tied \(tied)")
            for t in written { #expect(t.values == original[t.name]?.values && t.shape == original[t.name]?.shape, "\(t.name)") }
        }
    }

    @Test func gemmaNormsAreWrittenAsTheCheckpointStoresThem() throws {
        let c = try TinyGemma.config()
        let stored = TinyGemma.weights(c)
        let model = try LlamaModel.load(config: c, weights: stored)
        let written = try model.weightTensors()
        #expect(Set(written.map(\.name)) == Set(stored.tensors.keys))
        var norms = 0
        for t in written {
            let ref = stored.tensors[t.name]!.1
            if t.name.hasSuffix("norm.weight") {
                norms += 1
                #expect(maxAbsDiff(t.values, ref) <= 1.2e-7, "\(t.name)")     // (1 + w) − 1 rounds within an ulp of 1
            } else {
                #expect(t.values == ref, "\(t.name)")
            }
        }
        #expect(norms == 1 + 4 * 6)
    }

    @Test func anAdapterTrainerRefusesAFullCheckpoint() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autore-full-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Trainer(model: try tiny(), weights: .all, groups: groups, options: TrainingOptions(steps: 1))
            .checkpoint(config: "name: test").save(to: path)
        let lora = try tiny()
        try lora.addAdapter("facts", config: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: ["q_proj"]), seed: 1)
        let t = try Trainer(model: lora, adapter: "facts", groups: groups, options: TrainingOptions(steps: 1))
        let e = error { try t.restore(try Checkpoint(contentsOf: path), source: path) }
        #expect(e.contains("every weight") && e.contains("adapter 'facts'"), "\(e)")
    }

    @Test func quantizedProjectionsAreRefused() throws {
        let model = try LlamaModel.load(path: try TinyLlama(hidden: 64, intermediate: 128, seed: 2).writeTemporary(),
                                        quantization: .nf4(doubleQuantization: true))
        let e1 = error { _ = try Trainer(model: model, weights: .all, groups: groups, options: TrainingOptions(steps: 1)) }
        #expect(e1.contains("model.layers.0.self_attn.q_proj") && e1.contains("quantized"), "\(e1)")
        let e2 = error { _ = try model.weightTensors() }
        #expect(e2.contains("model.layers.0.self_attn.q_proj") && e2.contains("quantized"), "\(e2)")
    }
}
