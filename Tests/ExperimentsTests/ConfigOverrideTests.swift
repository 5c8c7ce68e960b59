// Settings changed without editing a config (`--set`), and sweeps made from one base config by a grid of
// values or listed variants: the changed config equals the file edited by hand, and every mistake is one
// error naming the setting.
import Foundation
import Testing
@testable import Experiments
@testable import RHF

@Suite struct ConfigOverrideTests {
    let base = """
    # a comment the derived config does not need
    name: abl_x
    paradigm: D_R_H_F_desc
    stage: all
    lora: {rank: 16, alpha: 32, dropout: 0.05, targets: [q_proj, v_proj]}
    training: {epochs: 1, cutoff_length: 1536, seed: 0}
    data: {train: "train[0:100]", select: "select[0:20]", test: "test[0:50]"}
    compute: "about 65 minutes"
    """

    func apply(_ sets: String...) throws -> ExperimentConfig {
        try ExperimentConfig.applying(sets.map(ConfigOverride.init(parsing:)), to: base, file: "abl_x.yaml").config
    }

    func error(_ sets: String...) -> String {
        do { _ = try ExperimentConfig.applying(sets.map(ConfigOverride.init(parsing:)), to: base, file: "abl_x.yaml"); return "" } catch { return "\(error)" }
    }

    @Test func overridesEqualTheFileEditedByHand() throws {
        let c = try apply("lora.rank=8", "lora.alpha=16")
        let byHand = try ExperimentConfig.parse(base.replacingOccurrences(of: "rank: 16, alpha: 32", with: "rank: 8, alpha: 16")
            .replacingOccurrences(of: "name: abl_x", with: "name: abl_x-lora.rank=8-lora.alpha=16"), file: "edited.yaml")
        #expect(c == byHand)
        // a list value, a section the file does not have, a float in exponent form
        let d = try apply("lora.targets=[q_proj, k_proj, v_proj]", "optimizer.learning_rate=1e-4", "extraction.max_new_tokens=64")
        #expect(d.lora.targets == ["q_proj", "k_proj", "v_proj"] && d.optimizer.learningRate == 1e-4 && d.extraction.maxNewTokens == 64)
        #expect(d.training.cutoffLength == 1536 && d.lora.rank == 16)   // the rest as the file says
        #expect(d.name == "abl_x-lora.targets=_q_proj__k_proj__v_proj_-optimizer.learning_rate=1e-4-extraction.max_new_tokens=64")
        // a name set explicitly is kept as it is; no override leaves the text alone
        #expect(try apply("name=rank8", "lora.rank=8").name == "rank8")
        let same = try ExperimentConfig.applying([], to: base, file: "abl_x.yaml")
        #expect(same.text == base && same.config.name == "abl_x")
        // the derived text parses to the same config and says where it came from
        let derived = try ExperimentConfig.applying([ConfigOverride(parsing: "training.seed=3")], to: base, file: "abl_x.yaml")
        #expect(derived.text.hasPrefix("# abl_x.yaml with --set training.seed=3\n"))
        #expect(try ExperimentConfig.parse(derived.text, file: "t") == derived.config && derived.config.training.seed == 3)
    }

    @Test func mistakesAreOneErrorNamingTheSetting() {
        #expect(error("lora.rnak=8").contains("unknown key 'lora.rnak'") && error("lora.rnak=8").contains("abl_x.yaml with lora.rnak=8"))
        #expect(error("lora.rank=many").contains("lora.rank"))
        #expect(error("lora.rank").contains("expected key=value"))
        #expect(error("=3").contains("expected key=value"))
        #expect(error("lora.rank=").contains("'lora.rank' needs a value"))
        #expect(error("name.first=a").contains("'name.first' goes through a value that is not a mapping"))
        #expect(error("lora..rank=3").contains("'lora..rank' is not a key path"))
        #expect(error("lora.rank=[8").contains("not valid YAML"))
        #expect(error("stage=heads", "paradigm=D_F").contains("stage 'heads' is not one of D_F's stages"))
    }

    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("autore-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try base.write(to: dir.appendingPathComponent("abl_x.yaml"), atomically: true, encoding: .utf8)
        try base.replacingOccurrences(of: "name: abl_x", with: "name: abl_y").write(to: dir.appendingPathComponent("abl_y.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    func sweep(_ dir: URL, _ text: String) throws -> Sweep {
        let path = dir.appendingPathComponent("s.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try Sweep.load(path: path)
    }

    func sweepError(_ dir: URL, _ text: String) -> String {
        do { _ = try sweep(dir, text); return "" } catch { return "\(error)" }
    }

    @Test func sweepsExpandAGridAndVariantsOfABaseConfig() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try sweep(dir, """
        name: s
        configs: [abl_y.yaml]
        base: abl_x.yaml
        grid: {lora.rank: [8, 32], training.seed: [0, 1]}
        variants: [{lora.rank: 4, lora.alpha: 8}, {lora.targets: [q_proj, k_proj]}]
        compute: about 4 hours
        """)
        // the listed config, then the grid's 2 × 2 combinations in key order, then the variants
        #expect(s.experiments.count == 7 && s.compute == "about 4 hours")
        #expect(s.experiments[0] == SweepExperiment(config: dir.appendingPathComponent("abl_y.yaml").path))
        let made = s.experiments.dropFirst().map { $0.overrides.map(\.description) }
        #expect(made == [["lora.rank=8", "training.seed=0"], ["lora.rank=8", "training.seed=1"],
                         ["lora.rank=32", "training.seed=0"], ["lora.rank=32", "training.seed=1"],
                         ["lora.rank=4", "lora.alpha=8"], ["lora.targets=[q_proj, k_proj]"]])
        let configs = try s.experiments.map { try $0.load().config }
        #expect(Set(configs.map(\.name)).count == 7)
        #expect(configs[3].lora.rank == 32 && configs[3].training.seed == 0 && configs[5].lora.alpha == 8 && configs[6].lora.targets == ["q_proj", "k_proj"])
        // the command that runs one of them alone, quoted for a shell where needed
        #expect(s.experiments[6].command(config: "x/abl_x.yaml") == "autore run --config x/abl_x.yaml --set 'lora.targets=[q_proj, k_proj]'")
        #expect(s.experiments[1].command(config: "abl_x.yaml") == "autore run --config abl_x.yaml --set lora.rank=8 --set training.seed=0")
    }

    @Test func sweepMistakesNameTheSweepFile() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(sweepError(dir, "name: s\nbase: abl_x.yaml\ngrid: {lora.rnak: [8]}").contains("unknown key 'lora.rnak'"))
        #expect(sweepError(dir, "name: s\nbase: abl_x.yaml").contains("base needs a grid or variants"))
        #expect(sweepError(dir, "name: s\ngrid: {lora.rank: [8]}").contains("add base:"))
        #expect(sweepError(dir, "name: s\nbase: abl_x.yaml\ngrid: {lora.rank: 8}").contains("'lora.rank' must have a list of values"))
        #expect(sweepError(dir, "name: s\nbase: abl_x.yaml\nvariants: [3]").contains("variants[0] must be a mapping"))
        #expect(sweepError(dir, "name: s\nconfigs: [abl_x.yaml]\nbase: abl_x.yaml\nvariants: [{name: abl_x}]").contains("both named 'abl_x'"))
        #expect(sweepError(dir, "name: s\nconfigs: [nope.yaml]").contains("config nope.yaml does not exist"))
        #expect(sweepError(dir, "name: s\nconfig: [abl_x.yaml]").contains("unknown key 'config'"))
        #expect(sweepError(dir, "name: s").contains("lists no experiment"))
        #expect(sweepError(dir, "configs: [abl_x.yaml]").contains("needs a name"))
        // twelve settings of ten values each: 10¹² combinations, refused before any is made (this ran out
        // of memory making them)
        let keys = ["lora.rank", "lora.alpha", "lora.dropout", "training.seed", "training.steps", "training.accumulation",
                    "optimizer.learning_rate", "optimizer.warmup_steps", "optimizer.weight_decay", "evaluation.every",
                    "evaluation.loss_groups", "training.checkpoint_every"]
        let grid = keys.map { "\($0): [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" }.joined(separator: ", ")
        #expect(sweepError(dir, "name: s\nbase: abl_x.yaml\ngrid: {\(grid)}").contains("grid has more than 1000 combinations (at 'training.seed')"))
    }
}
