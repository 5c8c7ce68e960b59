// Config numbers are range-checked: non-finite, negative, zero where zero means nothing, and absurd values
// are refused with the key named; a config naming none of base_model, paradigm and data is refused before it
// runs on defaults. Every shipped and stored config still loads.
import Foundation
import Testing
@testable import Experiments
@testable import RHF

@Suite struct ConfigRangeTests {
    let base = """
    name: ranges
    base_model: smollm2
    paradigm: D_R_H_F
    training: {steps: 100, checkpoint_every: 10}
    optimizer: {learning_rate: 1.0e-4, warmup_steps: 10}
    data: {train: "dev[0:10]"}
    """

    /// The error of `base` with `set` applied ("" when it loads).
    func error(_ set: String) -> String {
        do { _ = try ExperimentConfig.applying([try ConfigOverride(parsing: set)], to: base, file: "x.yaml"); return "" } catch { return "\(error)" }
    }

    @Test func theBaseAndSensibleValuesLoad() throws {
        _ = try ExperimentConfig.applying([], to: base, file: "x.yaml")
        for ok in ["optimizer.weight_decay=0.01", "optimizer.max_grad_norm=0.5", "evaluation.loss_groups=0", "evaluation.generation_documents=0",
                   "training.epochs=2.5", "training.max_bad_steps=1", "lora.alpha=64", "optimizer.warmup_steps=0",
                   "evaluation.patience=3", "training.init_from=main_one_r48", "data.held_out_relations=[P17, author]",
                   "data.held_out_relations={auto: 6, seed: 2}", "data.held_out_relations={auto: 6}",
                   "extraction.temperature=0.7", "extraction.end_bias={heads: -4, facts: -4}", "extraction.max_new_tokens={relations: 64}",
                   "extraction={relations: union, relations_min_log_probability: -1.5}"] {
            #expect(error(ok) == "", "\(ok)")
        }
    }

    @Test(arguments: [
        ("optimizer.learning_rate=.nan", "optimizer.learning_rate"), ("optimizer.learning_rate=.inf", "optimizer.learning_rate"),
        ("optimizer.learning_rate=-1.0e-4", "optimizer.learning_rate"), ("optimizer.learning_rate=0", "optimizer.learning_rate"),
        ("optimizer.learning_rate=50", "optimizer.learning_rate"),
        ("optimizer.warmup_steps=-1", "optimizer.warmup_steps"), ("optimizer.warmup_steps=500", "optimizer.warmup_steps"),
        ("optimizer.weight_decay=-0.1", "optimizer.weight_decay"), ("optimizer.weight_decay=.nan", "optimizer.weight_decay"),
        ("optimizer.weight_decay=3", "optimizer.weight_decay"),
        ("optimizer.max_grad_norm=0", "optimizer.max_grad_norm"), ("optimizer.max_grad_norm=-1", "optimizer.max_grad_norm"),
        ("optimizer.max_grad_norm=.inf", "optimizer.max_grad_norm"), ("optimizer.max_grad_norm=.nan", "optimizer.max_grad_norm"),
        ("training.steps=0", "training.steps"), ("training.steps=-3", "training.steps"), ("training.steps=1000000000", "training.steps"),
        ("training.epochs=.nan", "training.epochs"), ("training.epochs=.inf", "training.epochs"), ("training.epochs=0", "training.epochs"),
        ("training.epochs=1.0e9", "training.epochs"),
        ("training.cutoff_length=0", "cutoff_length"), ("training.cutoff_length=100000000", "training.cutoff_length"),
        ("training.accumulation=0", "accumulation"), ("training.accumulation=100000000", "training.accumulation"),
        ("training.checkpoint_every=0", "training.checkpoint_every"), ("training.checkpoint_every=-1", "training.checkpoint_every"),
        ("training.max_bad_steps=0", "training.max_bad_steps"),
        ("evaluation.every=0", "evaluation.every"), ("evaluation.every=-5", "evaluation.every"),
        ("evaluation.loss_groups=-1", "evaluation.loss_groups"), ("evaluation.generation_documents=-1", "evaluation.generation_documents"),
        ("lora.alpha=.inf", "lora.alpha"), ("lora.alpha=0", "alpha"), ("lora.alpha=.nan", "alpha"), ("lora.rank=100000", "lora.rank"),
        ("augmentation=-1", "augmentation"),
        ("evaluation.patience=0", "evaluation.patience"), ("training.init_from=' '", "training.init_from"),
        ("data.held_out_relations=[]", "data.held_out_relations"), ("data.held_out_relations={auto: 0}", "data.held_out_relations.auto"),
        ("data.held_out_relations={auto: 200}", "data.held_out_relations.auto"), ("data.held_out_relations=5", "held_out_relations"),
        ("data.held_out_relations={seed: 2}", "held_out_relations"),
        ("extraction.relations=union", "extraction.relations_min_log_probability"),
        ("extraction.temperature=.inf", "extraction.temperature"), ("extraction.temperature=.nan", "extraction.temperature"),
        ("extraction.temperature=-1", "extraction.temperature"), ("extraction.top_p=0", "extraction.top_p"),
        ("extraction.top_p=.nan", "extraction.top_p"), ("extraction.max_new_tokens=0", "extraction.max_new_tokens"),
        ("extraction.max_new_tokens={heads: -2}", "extraction.max_new_tokens (heads)"), ("extraction.batch_documents=0", "extraction.batch_documents"),
        ("extraction.end_bias=.inf", "extraction.end_bias"), ("extraction.end_bias={facts: 1000}", "extraction.end_bias"),
        ("extraction.relations_min_log_probability=0.5", "extraction.relations_min_log_probability"),
        ("extraction.shared_heads_min_log_probability=-.inf", "extraction.shared_heads_min_log_probability"),
        ("extraction.relations_top_k=0", "extraction.relations_top_k"), ("extraction.max_heads=0", "extraction.max_heads"),
    ])
    func outOfRangeValuesAreRefusedWithTheKeyNamed(set: String, key: String) {
        let e = error(set)
        #expect(e.hasPrefix("x.yaml with \(set): ") && e.contains(key), "\(set): \(e)")
    }

    @Test func lossSelectionNeedsHeldOutGroups() {
        let e = error("evaluation={select_by: loss, loss_groups: 0}")
        #expect(e.contains("evaluation.loss_groups") && e.contains("select_by: loss"), "\(e)")
    }

    @Test func aConfigNamingNoExperimentSettingIsRefused() throws {
        for text in ["name: only", "name: only\ntraining: {steps: 3}", "name: only\ntraining: {steps: 3}\nlora: {rank: 4}"] {
            do {
                _ = try ExperimentConfig.applying([], to: text, file: "only.yaml")
                Issue.record("'\(text)' was accepted")
            } catch {
                let e = "\(error)"
                #expect(e.hasPrefix("only.yaml: ") && (e.contains("names none of base_model, paradigm, data") || e.contains("training needs steps or epochs")), "\(e)")
            }
        }
        #expect(throws: ConfigError.self) { try ExperimentConfig.applying([ConfigOverride(parsing: "lora.rank=4")], to: "name: only\ntraining: {steps: 3}", file: "only.yaml") }
        // Any one of them is enough, in the file or set on the command line.
        for named in ["base_model: smollm2", "paradigm: D_F", "data: {train: dev}"] {
            _ = try ExperimentConfig.applying([], to: "name: one\ntraining: {steps: 3}\n\(named)", file: "one.yaml")
        }
        _ = try ExperimentConfig.applying([ConfigOverride(parsing: "paradigm=D_F")], to: "name: only\ntraining: {steps: 3}", file: "only.yaml")
    }

    /// Every config the project ships, and every config stored in its run and results folders, passes the
    /// range checks; the shipped ones also name what an experiment needs.
    @Test func shippedAndStoredConfigsStillLoad() throws {
        let experiments = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Experiments")
        let fm = FileManager.default
        var shipped: [String] = [], stored: [String] = []
        for folder in [".", "ablations"] {
            let dir = experiments.appendingPathComponent(folder)
            shipped += try fm.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.map { dir.appendingPathComponent($0).path }
        }
        for folder in ["runs", "results"] {
            let dir = experiments.appendingPathComponent(folder)
            let all = fm.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
            stored += all.filter { $0.hasSuffix("config.yaml") }.map { dir.appendingPathComponent($0).path }
        }
        #expect(shipped.count >= 14)
        for path in shipped {
            let text = try ExperimentConfig.text(path: path)
            #expect(throws: Never.self, "\(path)") { _ = try ExperimentConfig.applying([], to: text, file: path) }
        }
        for path in stored { #expect(throws: Never.self, "\(path)") { _ = try ExperimentConfig.load(path: path) } }
    }
}
