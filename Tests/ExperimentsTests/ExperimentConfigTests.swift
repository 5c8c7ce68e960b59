// Experiment configs: a full config parses; unknown keys and wrong types are errors naming them.
import DocRE
import Foundation
import Testing
@testable import Experiments
@testable import RHF

@Suite struct ExperimentConfigTests {
    let full = """
    name: rhf-relations
    base_model: smollm2
    quantization: nf4
    paradigm: D_R_H_F
    stage: relations
    descriptions: own
    prompt_order: documentFirst
    lora: {rank: 32, alpha: 16, dropout: 0.05, targets: [q_proj, v_proj, o_proj]}
    optimizer: {learning_rate: 1.0e-4, schedule: linear, warmup_steps: 10}
    training: {epochs: 1, accumulation: 2, cutoff_length: 1024, seed: 3}
    data: {train: "dev[0:400]", select: "dev[400:500]"}
    compute: about 40 minutes on 2 cores
    """

    @Test func fullConfigParses() throws {
        let c = try ExperimentConfig.parse(full, file: "x.yaml")
        #expect(c.name == "rhf-relations" && c.paradigm == .D_R_H_F && c.adapterLayout == .single(.relations))
        #expect(c.lora.rank == 32 && c.lora.targets == ["q_proj", "v_proj", "o_proj"] && c.lora.loraConfig.scale == 0.5)
        #expect(c.optimizer.learningRate == 1e-4 && c.optimizer.schedule == .linear && c.training.epochs == 1)
        #expect(c.descriptions == .own && c.promptOrder == .documentFirst && c.training.seed == 3)
        #expect(try SplitSlice(parsing: c.data.train) == SplitSlice(split: .dev, range: 0..<400))
        #expect(c.evaluation.every == 50)   // defaults fill what the file leaves out
    }

    @Test func heldOutRelationsParseAsAListOrAnAutoChoice() throws {
        let named = try ExperimentConfig.parse(full.replacingOccurrences(of: "select: \"dev[400:500]\"}", with: "select: \"dev[400:500]\", held_out_relations: [P17, author]}"), file: "x.yaml")
        #expect(named.data.heldOutRelations == .named(["P17", "author"]))
        let auto = try ExperimentConfig.parse(full.replacingOccurrences(of: "select: \"dev[400:500]\"}", with: "select: \"dev[400:500]\", held_out_relations: {auto: 6, seed: 4}}"), file: "x.yaml")
        #expect(auto.data.heldOutRelations == .auto(count: 6, seed: 4))
        // It shapes training: two configs that differ in it do not train alike.
        #expect(!ExperimentConfig.trainsAlike(full, full.replacingOccurrences(of: "select: \"dev[400:500]\"}", with: "select: \"dev[400:500]\", held_out_relations: [P17]}")))
        #expect(try ExperimentConfig.parse(full, file: "x.yaml").data.heldOutRelations == nil)
        // drop_self_relations reaches the extraction options (off unless asked)
        #expect(!ExtractionOptions(try ExperimentConfig.parse(full, file: "x.yaml").extraction).dropSelfRelations)
        let dropping = try ExperimentConfig.parse(full + "\nextraction: {drop_self_relations: true}\n", file: "x.yaml")
        #expect(ExtractionOptions(dropping.extraction).dropSelfRelations)
        // How often a run checkpoints does not shape it (a resumed run is the same bit for bit); its seed does.
        #expect(ExperimentConfig.trainsAlike(full, full.replacingOccurrences(of: "seed: 3}", with: "seed: 3, checkpoint_every: 7}")))
        #expect(!ExperimentConfig.trainsAlike(full, full.replacingOccurrences(of: "seed: 3}", with: "seed: 4}")))
        // Stored and read again (results keep the config as JSON in places): the same value.
        let data = try JSONEncoder().encode(auto.data)
        #expect(try JSONDecoder().decode(DataSettings.self, from: data) == auto.data)
    }

    func error(_ yaml: String) -> String {
        do { _ = try ExperimentConfig.parse(yaml, file: "Experiments/bad.yaml"); return "" } catch { return "\(error)" }
    }

    @Test func unknownKeysAreNamed() {
        #expect(error("name: a\ntraining: {steps: 1}\nlearning_rate: 3") .contains("Experiments/bad.yaml: unknown key 'learning_rate'"))
        #expect(error("name: a\ntraining: {steps: 1}\nlora: {rnak: 3}").contains("unknown key 'lora.rnak'"))
    }

    @Test func wrongTypesAndValuesAreNamed() {
        #expect(error("name: a\ntraining: {steps: many}").contains("training.steps"))
        #expect(error("name: a\ntraining: {steps: 1}\nparadigm: D_X").contains("paradigm"))
        #expect(error("name: a\ntraining: {steps: 1}\nlora: {targets: [q_proj, w_proj]}").contains("unknown layer 'w_proj'"))
        #expect(error("name: a\ntraining: {steps: 1}\nparadigm: D_F\nstage: heads").contains("stage 'heads' is not one of D_F's stages"))
        #expect(error("name: a\ntraining: {steps: 1}\ndata: {train: 'dev[5:2]'}").contains("bad slice 'dev[5:2]'"))
        #expect(error("name: a").contains("training needs steps or epochs"))
        #expect(error("name: [a").contains("not valid YAML"))
        #expect(error("name: a\ntraining: {steps: 1, reduction: exact}").contains("training.reduction must be sum or ordered, not 'exact'"))
        #expect((try? ExperimentConfig.parse("name: a\ntraining: {steps: 1, reduction: ordered}", file: "a.yaml"))?.training.reduction == .ordered)
    }

    /// Fuzz finding 7: Yams' `load` traps on a mapping key that is a list or mapping, and walks every
    /// expansion of nested aliases; both are refused with one error (the trap would end the process).
    @Test func nonScalarKeysAndAliasBombsAreRefused() {
        #expect(error("name: a\n? [x, y]\n: 1").contains("mapping key must be plain text"))
        #expect(error("name: a\ntraining: {{steps: 1}: 2}").contains("mapping key must be plain text"))
        // 10 levels of 10 aliases each: 10^10 values once expanded, from under 400 bytes
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...10 { bomb += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        #expect(error("name: a\n" + bomb).contains("more than 100000 YAML values"))
        // a sweep file is checked the same way
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yaml-keys-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let sweep = dir.appendingPathComponent("s.yaml").path
        #expect(FileManager.default.createFile(atPath: sweep, contents: Data("name: s\n? {a: 1}\n: 2\n".utf8)))
        var message = ""
        do { _ = try Sweep.load(path: sweep) } catch { message = "\(error)" }
        #expect(message.contains("s.yaml") && message.contains("mapping key must be plain text"))
    }

    @Test func decodingSettingsParse() throws {
        let c = try ExperimentConfig.parse("""
            name: a
            training: {steps: 1}
            extraction: {max_new_tokens: {relations: 96, facts: 200}, constrained: true, repeated_lines: drop,
                         relations: likelihood, relations_top_k: 12, relations_min_log_probability: -4.5}
            """, file: "x.yaml")
        #expect(c.extraction.budget == [.relations: 96, .heads: 128, .facts: 200])
        let o = ExtractionOptions(c.extraction)
        #expect(o.constrained && !o.stopOnRepeatedLine && o.relations == .likelihood)
        #expect(o.relationSelection == RelationSelection(topK: 12, minLogProbability: -4.5))
        // the defaults are the decoding of earlier runs
        let d = ExtractionOptions(try ExperimentConfig.parse("name: a\ntraining: {steps: 1}", file: "x.yaml").extraction)
        #expect(!d.constrained && d.stopOnRepeatedLine && d.relations == .generate && d.budget == [.relations: 128, .heads: 128, .facts: 128])
        #expect(try ExperimentConfig.parse("name: a\ntraining: {steps: 1}\nextraction: {max_new_tokens: 64}", file: "x.yaml").extraction.budget[.heads] == 64)
        #expect(error("name: a\ntraining: {steps: 1}\nextraction: {max_new_tokens: {head: 3}}").contains("unknown stage 'head'"))
        #expect(error("name: a\ntraining: {steps: 1}\nextraction: {relations: vote}").contains("extraction.relations"))
        #expect(error("name: a\ntraining: {steps: 1}\nextraction: {max_new_tokens: {facts: 0}}").contains("max_new_tokens"))
        #expect(error("name: a\ntraining: {steps: 1}\nextraction: {relations_min_log_probability: 2}").contains("relations_min_log_probability"))
    }

    /// Every config and sweep the project ships parses (slices included), with unique names: a typo in one
    /// would otherwise surface only when a sweep reaches it, hours in.
    @Test func shippedConfigsAndSweepsParse() throws {
        let experiments = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Experiments")
        func yamls(_ folder: String) throws -> [String] {
            let dir = experiments.appendingPathComponent(folder)
            return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
                .sorted().map { dir.appendingPathComponent($0).standardizedFileURL.path }
        }
        let configs = try yamls(".") + yamls("ablations") + yamls("unseen") + yamls("gemma")
        #expect(configs.count >= 14)
        var names: [String: String] = [:]
        for path in configs {
            let c = try ExperimentConfig.load(path: path)
            #expect(names.updateValue(path, forKey: c.name) == nil, "\(c.name) named twice")
        }
        let sweeps = try yamls("sweeps")
        #expect(sweeps.count >= 2)
        for path in sweeps {
            let s = try Sweep.load(path: path)
            for c in s.experiments.map(\.config) { #expect(configs.contains(c), "\(path) runs \(c), which is not a shipped config") }
        }
    }
}
