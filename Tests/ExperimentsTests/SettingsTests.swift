// The config's fixed-choice settings as enums: each YAML string decodes to one case and encodes back to the
// same string, a value outside the choices is one error naming the key, and the paradigm's stage chain
// follows from the layout.
import DocRE
import FineTuning
import Foundation
import LanguageModels
import Testing
@testable import Experiments
@testable import RHF

@Suite struct SettingsTests {
    func parse(_ extra: String) throws -> ExperimentConfig {
        try ExperimentConfig.parse("name: a\ntraining: {steps: 1}\n" + extra, file: "x.yaml")
    }
    func error(_ extra: String) -> String {
        do { _ = try parse(extra); return "" } catch { return "\(error)" }
    }

    @Test func stageDecodesToAnAdapterLayout() throws {
        #expect(try parse("").adapterLayout == .shared)
        #expect(try parse("stage: all").adapterLayout == .shared)
        #expect(try parse("stage: each").adapterLayout == .perStage)
        #expect(try parse("stage: heads").adapterLayout == .single(.heads))
        #expect(error("stage: head").contains("stage 'head' is not one of D_R_H_F's stages (relations, heads, facts, all or each)"))
        for text in ["all", "each", "relations", "heads", "facts"] { #expect(AdapterLayout(rawValue: text)?.rawValue == text) }
    }

    @Test func aLayoutTrainsItsAdapterRuns() throws {
        let root = RunDirectory(URL(fileURLWithPath: "/tmp/runs/x"))
        #expect(try parse("stage: all").adapterRuns(in: root).map(\.scope) == [.allStages])
        let each = try parse("stage: each").adapterRuns(in: root)
        #expect(each.map(\.scope) == [.stage(.relations), .stage(.heads), .stage(.facts)])
        #expect(each.map(\.config.adapterLayout) == [.single(.relations), .single(.heads), .single(.facts)])
        #expect(each.map(\.directory.url.lastPathComponent) == ["relations", "heads", "facts"])
    }

    @Test func selectByAndQuantizationAreEnumsOfTheirStrings() throws {
        #expect(try parse("").evaluation.selectBy == .stageF1)
        #expect(try parse("evaluation: {select_by: loss}").evaluation.selectBy == .heldOutLoss)
        #expect(error("evaluation: {select_by: recall}").contains("evaluation.select_by must be f1 or loss, not 'recall'"))
        #expect(try parse("").quantization == .nf4)
        #expect(try parse("quantization: none").quantization == .float32)
        #expect(try parse("quantization: native").quantization == .native)
        #expect(error("quantization: int8").contains("quantization must be nf4, none or native, not 'int8'"))
        #expect(Quantization.native.weights(doubleQuantization: true) == .native)
        #expect(Quantization.nf4.weights(doubleQuantization: false) == .nf4(doubleQuantization: false))
    }

    @Test func writtenRecordsKeepTheirStrings() throws {
        let best = BestEvaluation(step: 3, metric: .heldOutLoss, value: 1.5)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        #expect(String(decoding: try enc.encode(best), as: UTF8.self) == #"{"metric":"loss","step":3,"value":1.5}"#)
        #expect(String(decoding: try enc.encode([AdapterScope.allStages, .stage(.heads)]), as: UTF8.self) == #"["all","heads"]"#)
        let record = try JSONDecoder().decode(MetricsRecord.self, from: Data(#"{"kind":"spike","step":4,"loss":9}"#.utf8))
        #expect(record.kind == .spike)
    }
}
