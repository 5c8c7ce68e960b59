// Opening a trained run folder: a fully fine-tuned model (best/ or final/model.safetensors) or stage adapters,
// with the stored config and steps, loaded over a base in memory or from its file.
import DocRE
import Foundation
import LanguageModels
import NeuralNet
import Support
import TestSupport
import Testing
@testable import RHF

@Suite struct RunModelTests {
    func folder() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("autore-runmodel-\(UUID().uuidString)") }
    func tiny() throws -> LoadedModel {
        LoadedModel(path: "tiny", model: try LlamaModel.load(path: TinyByteModel.checkpoint()), tokenizer: try TinyByteModel.tokenizer())
    }

    @Test func aFineTunedRunAnswersEveryStageWithItsKeptWeights() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trained = try tiny()
        for (_, p) in trained.model.baseParameters() { for i in 0..<p.value.count { p.value.data[i] += Float(i % 3) * 0.01 } }
        try FineTunedModel.save(trained.model, to: dir.appendingPathComponent("best").path, step: 12, config: "name: full")

        let run = try RunModel.open([dir.path])
        #expect(run.isFineTuned && run.steps == ["all": 12] && run.storedConfig.text == "name: full")
        #expect(run.storedConfig.source.hasSuffix("best/model.safetensors (stored config)"))
        #expect(run.described(folder: "f") == "the fine-tuned model of f (step 12)")
        let given = try tiny()
        let (model, stages) = try run.load(base: .inMemory(given), paradigm: .D_R_H_F)
        #expect(stages.isEmpty)
        #expect(try model.model.weightTensors().map(\.values) == trained.model.weightTensors().map(\.values))
        // not the base's own weights: the given base is left as it was
        #expect(try given.model.weightTensors().map(\.values) != trained.model.weightTensors().map(\.values))
    }

    @Test func aFineTunedRunReadsOnlyTheArchitectureAndTokenizerOfItsBaseFile() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let baseDir = dir.appendingPathComponent("base").path
        try TinyLlama.byteLevel(seed: 4).write(to: baseDir, withTokenizer: true)
        let trained = LoadedModel(path: baseDir, model: try LlamaModel.load(path: baseDir), tokenizer: try ModelLocation.tokenizer(at: baseDir))
        for (_, p) in trained.model.baseParameters() { for i in 0..<p.value.count { p.value.data[i] *= 0.5 } }
        try FineTunedModel.save(trained.model, to: dir.appendingPathComponent("run/final").path, step: 3, config: "name: full")

        let run = try RunModel.open([dir.appendingPathComponent("run").path])
        var loads = 0
        let (model, stages) = try run.load(base: .file(baseDir, load: { loads += 1; return trained }), paradigm: .D_R_H_F)
        #expect(loads == 0 && stages.isEmpty && model.path == baseDir, "the base's weights were loaded")
        #expect(try model.model.weightTensors().map(\.values) == trained.model.weightTensors().map(\.values))
        #expect(model.tokenizer.encode("Warsaw") == trained.tokenizer.encode("Warsaw"))
    }

    @Test func anAdapterRunInstallsItsAdaptersAndLoadsTheBaseOnlyWhenAsked() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try LlamaModel.load(path: TinyByteModel.checkpoint())
        let lora = LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: ["q_proj", "v_proj"])
        try model.addAdapter("all", config: lora, seed: 3)
        let a = TrainedAdapter(model: model, adapter: "all", stage: .allStages, lora: lora, config: "name: one", step: 40)
        try a.writePEFT(to: dir.appendingPathComponent("peft").path, baseModel: "tiny")

        let run = try RunModel.open([dir.path])
        #expect(!run.isFineTuned && run.steps == ["all": 40] && run.storedConfig.text == "name: one")
        #expect(run.described(folder: "f") == "adapters of f (step all 40)")
        var loads = 0
        let (loaded, stages) = try run.load(base: .file("tiny", load: { loads += 1; return try tiny() }), paradigm: .D_R_H_F)
        #expect(loads == 1 && stages == [.relations: "all", .heads: "all", .facts: "all"])
        #expect(loaded.model.adapterParameters("all").map { $0.1.value.scalars } == model.adapterParameters("all").map { $0.1.value.scalars })
        // an empty folder names itself
        let empty = folder()
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect { try RunModel.open([empty.path]) } throws: { "\($0)".contains(empty.path) }
    }
}
