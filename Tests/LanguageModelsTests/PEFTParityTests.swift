// LoRA training of SmolLM2 against PEFT + torch (goldens from Scripts/make_peft_golden.py, same GGUF):
// the initial PEFT adapter imported, 20 AdamW steps with the same losses, the trained adapter exported,
// re-imported and giving PyTorch's logits; and strict import errors on a tiny model.
import Autograd
import FineTuning
import Foundation
import ModelFormats
import NeuralNet
import Support
import Testing
@testable import LanguageModels

/// What a training golden of Scripts/make_{peft,full_ft}_golden.py holds: the settings, the token batch, the
/// loss of each step, the top-5 logits after training, and (full fine-tuning) a few weights before and after.
struct TrainingGolden<Meta: Decodable>: Decodable {
    let meta: Meta
    let batch: [[Int]]
    let losses: [Float]
    let eval_ids: [Int]
    let top5_ids: [[Int]]
    let top5_logits: [[Float]]
    let probes_before: [String: [Float]]?
    let probes_after: [String: [Float]]?

    static func load(_ name: String) throws -> Self {
        try JSONDecoder().decode(Self.self, from: Data(contentsOf: Fixtures.directory.appendingPathComponent(name)))
    }
}

struct PEFTGoldenMeta: Decodable {
    let rank: Int, alpha: Float, steps: Int, lr: Float, betas: [Float], eps: Float
    let weight_decay: Float, max_grad_norm: Float, schedule: String
}
typealias PEFTGolden = TrainingGolden<PEFTGoldenMeta>
extension TrainingGolden where Meta == PEFTGoldenMeta {
    static func load() throws -> PEFTGolden { try load("peft_parity.json") }
    static var initialAdapter: String { Fixtures.directory.appendingPathComponent("peft_parity/initial").path }
}

@Suite(.serialized) struct PEFTParityTests {
    /// Logits (T, V) of `ids` with the model's active adapter.
    func logits(_ model: LlamaModel, _ ids: [Int]) throws -> Tensor {
        try withNoGrad { try model.logits(model.forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).hidden) }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.smolLM2Path), "SmolLM2 GGUF not found (run Scripts/setup)"))
    func trainingMatchesPEFTAndTheAdapterRoundTrips() throws {
        let golden = try PEFTGolden.load()
        let m = golden.meta
        #expect(m.schedule == "constant" && m.betas == [0.9, 0.999] && m.eps == 1e-8)
        // Its own model: adapters are added and activated, which the shared fixture must not see.
        let model = try LlamaModel.load(path: Fixtures.smolLM2Path)
        let initial = try PEFTAdapter(directory: PEFTGolden.initialAdapter)
        #expect(initial.lora.rank == m.rank && initial.lora.alpha == m.alpha && initial.modules.count == 2 * model.config.layerCount)
        try model.importAdapter(initial, as: "parity")

        // HF's causal-LM loss (mean CE over every shifted position of the batch) is our answer loss of a
        // group with no prefix, the first token as prompt and the rest as answer, when lengths are equal.
        let group = PrefixGroup(prefix: [], continuations: golden.batch.map { Continuation(prompt: [$0[0]], answer: Array($0.dropFirst())) })
        model.activateAdapter("parity")
        let (answer, direct) = try withNoGrad { () throws -> (Float, Float) in
            let (b, t) = (golden.batch.count, golden.batch[0].count)
            let h = try model.forward(ids: golden.batch.flatMap { $0.map(Int32.init) }, batch: b, length: t).hidden
            let rows = (0..<b).flatMap { i in (0..<(t - 1)).map { i * t + $0 } }
            let targets = golden.batch.flatMap { $0.dropFirst().map(Int32.init) }
            let picked = try gather(h.reshaped([b * t, model.config.hiddenSize]), axis: 0, indices: rows)
            return (try model.answerLoss(group).item, try crossEntropy(logits: model.logits(picked), targets: targets).item)
        }
        #expect(abs(answer - direct) <= 1e-5 * direct, "answer loss \(answer) vs all-position loss \(direct)")

        let trainer = try Trainer(model: model, adapter: "parity", groups: [group], options: TrainingOptions(
            steps: m.steps, learningRate: m.lr, schedule: .constant, maxGradNorm: m.max_grad_norm, weightDecay: m.weight_decay))
        let worstLoss = try expectLosses(of: trainer, match: golden.losses, within: 1e-3)
        print("max relative loss difference over \(golden.losses.count) steps: \(worstLoss)")

        // Export, write, read and import under a fresh name: the trained adapter's logits are PyTorch's.
        let exported = try model.exportAdapter("parity", config: initial.lora, baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autore-peft-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try exported.write(to: dir)
        let reread = try model.loadAdapter(from: dir, as: "reimported")
        #expect(reread == exported)
        model.activateAdapter("reimported")
        let out = try logits(model, golden.eval_ids)
        model.activateAdapter("parity")
        let trained = try logits(model, golden.eval_ids)
        #expect(out.scalars == trained.scalars)
        let v = model.config.vocabSize
        let worstLogit = maxTop5Difference(out, ids: golden.top5_ids, values: golden.top5_logits)
        print("max |logit − PyTorch| of the trained adapter (top-5 at \(golden.eval_ids.count) positions): \(worstLogit)")
        #expect(worstLogit <= 1e-3)
        // Non-vacuity: the trained adapter moves the logits far beyond the tolerance; the base does not match.
        model.activateAdapter(nil)
        let base = try logits(model, golden.eval_ids)
        #expect(maxAbsDiff(base.scalars, out.scalars) > 1)

        // AUTORE_PEFT_EXPORT=DIR: leave the exported adapter and our logits for Scripts/check_peft_roundtrip.py.
        if let target = ProcessInfo.processInfo.environment["AUTORE_PEFT_EXPORT"], !target.isEmpty {
            try? FileManager.default.removeItem(atPath: target + "/autore_logits.json")   // so the folder is an adapter again
            try exported.write(to: target)
            let top = (0..<golden.eval_ids.count).map { t -> [Int] in
                Array((0..<v).sorted { out.data[t * v + $0] > out.data[t * v + $1] }.prefix(5))
            }
            let record: [String: Any] = [
                "ids": golden.eval_ids, "top5_ids": top,
                "top5_logits": top.enumerated().map { t, ids in ids.map { Double(out.data[t * v + $0]) } },
            ]
            try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: target + "/autore_logits.json"))
            print("wrote the exported adapter and autore_logits.json to \(target)")
        }
    }
}

/// Import and export on a tiny random Llama: exact round trip, and strict errors naming the tensor.
@Suite struct AdapterInterchangeTests {
    func tinyModel() throws -> LlamaModel { try LlamaModel.load(path: Fixtures.tinyCheckpoint()) }
    let config = LoRAConfig(rank: 3, alpha: 6, dropout: 0, targets: ["q_proj", "v_proj", "down_proj"])

    /// A tiny model with adapter "a" (non-zero B) and its PEFT export.
    func trained() throws -> (LlamaModel, PEFTAdapter) {
        let model = try tinyModel()
        try model.addAdapter("a", config: config, seed: 4)
        var g = SplitMix64(seed: 9)
        for (_, p) in model.adapterParameters("a") where p.shape[1] == 3 {
            p.value = Tensor.uniform(p.shape, low: -0.5, high: 0.5, generator: &g)
        }
        return (model, try model.exportAdapter("a", config: config, baseModel: "tiny"))
    }

    func error(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test func exportImportIsExactAndChangesTheOutput() throws {
        let (model, peft) = try trained()
        #expect(peft.modules.count == 2 * 3)
        #expect(peft.modules["model.layers.1.mlp.down_proj"]?.a.shape == [3, 48])
        let ids: [Int32] = [1, 5, 9, 2, 60, 7]
        let fresh = try tinyModel()
        let base = try withNoGrad { try fresh.logits(fresh.forward(ids: ids, batch: 1, length: 6).hidden) }.scalars
        try fresh.importAdapter(peft, as: "b")
        fresh.activateAdapter("b")
        model.activateAdapter("a")
        let ours = try withNoGrad { try fresh.logits(fresh.forward(ids: ids, batch: 1, length: 6).hidden) }.scalars
        let theirs = try withNoGrad { try model.logits(model.forward(ids: ids, batch: 1, length: 6).hidden) }.scalars
        #expect(ours == theirs)
        #expect(maxAbsDiff(base, ours) > 1e-2)
        #expect(try fresh.exportAdapter("b", config: config, baseModel: "tiny") == peft)
    }

    @Test func importErrorsNameTheTensor() throws {
        let (_, peft) = try trained()
        var extra = peft
        extra.modules["model.layers.7.self_attn.q_proj"] = peft.modules["model.layers.0.self_attn.q_proj"]
        let e1 = error { try tinyModel().importAdapter(extra, as: "x") }
        #expect(e1.contains("base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight"), "\(e1)")

        var missing = peft
        missing.modules["model.layers.1.self_attn.v_proj"] = nil
        let e2 = error { try tinyModel().importAdapter(missing, as: "x") }
        #expect(e2.contains("model.layers.1.self_attn.v_proj") && e2.contains("no tensor"), "\(e2)")

        var shape = peft
        shape.modules["model.layers.0.mlp.down_proj"]!.b = FloatArray(shape: [31, 3], values: Array(repeating: 0, count: 93))
        let e3 = error { try tinyModel().importAdapter(shape, as: "x") }
        #expect(e3.contains("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight' has shape [31, 3]") && e3.contains("[32, 3]"), "\(e3)")

        // A failed import leaves the model without the adapter.
        let model = try tinyModel()
        _ = error { try model.importAdapter(shape, as: "x") }
        #expect(model.adapterParameters("x").isEmpty)
    }

    @Test func checkpointWeightsConvertWithoutAModel() throws {
        let (model, peft) = try trained()
        var weights: [String: FloatArray] = [:]
        for (key, p) in model.adapterParameters("a") { weights[key] = FloatArray(shape: p.shape, values: p.value.scalars) }
        #expect(try PEFTAdapter(weights: weights, adapter: "a", lora: config, baseModel: "tiny") == peft)
        var stray = weights
        stray["model.layers.0.self_attn.q_proj.lora_A.other.weight"] = weights["model.layers.0.self_attn.q_proj.lora_A.a.weight"]
        let e1 = error { _ = try PEFTAdapter(weights: stray, adapter: "a", lora: config, baseModel: nil) }
        #expect(e1.contains("model.layers.0.self_attn.q_proj.lora_A.other.weight"), "\(e1)")
        var lonely = weights
        lonely["model.layers.1.mlp.down_proj.lora_B.a.weight"] = nil
        let e2 = error { _ = try PEFTAdapter(weights: lonely, adapter: "a", lora: config, baseModel: nil) }
        #expect(e2.contains("model.layers.1.mlp.down_proj.lora_B.a.weight is missing"), "\(e2)")
        let e3 = error { _ = try PEFTAdapter(weights: weights, adapter: "a", lora: LoRAConfig(rank: 2, targets: config.targets), baseModel: nil) }
        #expect(e3.contains("r = 2"), "\(e3)")
    }

    @Test func exportChecksTheConfigDescribesTheAdapter() throws {
        let (model, _) = try trained()
        let e1 = error { _ = try model.exportAdapter("a", config: LoRAConfig(rank: 4, alpha: 6, dropout: 0, targets: config.targets), baseModel: "t") }
        #expect(e1.contains("rank 3"), "\(e1)")
        let e2 = error { _ = try model.exportAdapter("a", config: LoRAConfig(rank: 3, alpha: 6, dropout: 0, targets: ["q_proj"]), baseModel: "t") }
        #expect(e2.contains("v_proj") && e2.contains("not in the targets"), "\(e2)")
        let e3 = error { _ = try model.exportAdapter("a", config: LoRAConfig(rank: 3, alpha: 6, dropout: 0, targets: config.targets + ["k_proj"]), baseModel: "t") }
        #expect(e3.contains("k_proj") && e3.contains("carries no such adapter"), "\(e3)")
        let e4 = error { _ = try model.exportAdapter("nope", config: config, baseModel: "t") }
        #expect(e4.contains("no layer carries"), "\(e4)")
    }
}
