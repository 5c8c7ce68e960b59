// Training runs end to end on a tiny byte-level model: an interrupted run resumed ends with the same
// adapters, bit for bit, as an uninterrupted one; `autore run`'s pipeline writes scored results that the
// report reads; and finished runs are skipped.
import DocRE
import FineTuning
import Foundation
import LanguageModels
import ModelFormats
import NeuralNet
import Support
import TestSupport
import Testing
@testable import Experiments
@testable import RHF
@testable import Reporting

@Suite(.serialized) struct TrainingRunTests {
    static let config = """
    name: tiny
    quantization: none
    paradigm: D_R_H_F
    stage: each
    chat_template: none
    lora: {rank: 2, alpha: 4, dropout: 0.1, targets: [q_proj, v_proj]}
    optimizer: {learning_rate: 1.0e-2, warmup_steps: 1}
    training: {steps: 5, checkpoint_every: 2, max_questions_per_group: 3, cutoff_length: 4096, seed: 1}
    data: {train: "dev[0:3]", select: "dev[3:5]", test: "test[0:2]"}
    evaluation: {every: 2, loss_groups: 2, generation_documents: 1, select_by: f1}
    extraction: {max_new_tokens: 6, batch_documents: 2}
    """

    /// A temporary folder with a Re-DocRED-shaped data directory (the fixture documents under several titles).
    func workspace() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-run-\(UUID().uuidString)")
        let data = root.appendingPathComponent("redocred")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let fixture = try DocumentLoader.load(DataLocation.projectData.appendingPathComponent("fixtures/tiny_redocred.json"))
        let labelled = fixture.filter { !$0.labels.isEmpty }
        var docs: [Document] = []
        for i in 0..<5 { var d = labelled[i % labelled.count]; d.title += " \(i)"; docs.append(d) }
        try JSONEncoder().encode(docs).write(to: data.appendingPathComponent("dev_revised.json"))
        try JSONEncoder().encode(Array(docs.prefix(2))).write(to: data.appendingPathComponent("test_revised.json"))
        try Self.config.write(to: root.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
        return root
    }

    func base() throws -> LoadedModel {
        LoadedModel(path: "tiny", model: try LlamaModel.load(path: TinyByteModel.checkpoint()), tokenizer: try TinyByteModel.tokenizer())
    }

    /// The adapter a finished stage run keeps (its best, as a PEFT folder).
    func kept(_ dir: URL, _ stage: String) throws -> [String: FloatArray] {
        try TrainedAdapter(peftDirectory: dir.appendingPathComponent("\(stage)/peft").path).weights
    }

    /// The adapter after a stage run's last step, from its last checkpoint.
    func last(_ dir: URL, _ stage: String) throws -> [String: FloatArray] {
        try Checkpoint(contentsOf: dir.appendingPathComponent("\(stage)/checkpoint.h5").path).floats.filter { $0.key.hasPrefix("adapter/") }
    }

    @Test func interruptedAndResumedEqualsUninterrupted() throws {
        let ws = try workspace()
        defer { try? FileManager.default.removeItem(at: ws) }
        let cfg = try ExperimentConfig.parse(Self.config, file: "tiny.yaml")
        let data = ws.appendingPathComponent("redocred").path
        let whole = RunDirectory(ws.appendingPathComponent("whole")), split = RunDirectory(ws.appendingPathComponent("split"))
        try TrainingRun.train(config: cfg, configText: Self.config, root: whole, base: base(), dataDir: data, policy: .fresh, say: { _ in })

        // Stop in the middle of the heads stage (the 7th look at the condition: before each stage and after each of a stage's steps but its last: 1 + 4 for relations, then heads' first step), then resume on a new base.
        var looks = 0
        let stop = StopCondition { looks += 1; return looks == 7 }
        #expect(throws: RunStopped.self) {
            try TrainingRun.train(config: cfg, configText: Self.config, root: split, base: base(), dataDir: data, policy: .fresh, stop: stop, say: { _ in })
        }
        #expect(FileManager.default.fileExists(atPath: split.url.appendingPathComponent("relations/summary.json").path))
        #expect(!FileManager.default.fileExists(atPath: split.url.appendingPathComponent("heads/summary.json").path))
        let partial = try Checkpoint(contentsOf: split.url.appendingPathComponent("heads/checkpoint.h5").path)
        let stoppedAt = Int(partial.integers["step"]!)
        #expect(stoppedAt > 0 && stoppedAt < 5)
        // A process killed after logging a step but before checkpointing it leaves that step in the log;
        // the resumed run does the step again and must not log it twice.
        let headsLog = split.url.appendingPathComponent("heads/metrics.jsonl")
        let logged = try Data(contentsOf: headsLog)
        let lost = (1...2).map { #"{"kind":"train","loss":1,"step":\#(stoppedAt + $0)}"# + "\n" }.joined()
        try (logged + Data(lost.utf8) + Data(#"{"kind":"tr"#.utf8)).write(to: headsLog)   // and a torn line
        // Resuming may change what does not shape training (decoding, the test split, comments) …
        let decoding = "# decoding changed after training\n" + Self.config
            .replacingOccurrences(of: "max_new_tokens: 6", with: "max_new_tokens: 9")
            .replacingOccurrences(of: "test: \"test[0:2]\"", with: "test: \"test[0:1]\"")
        var said: [String] = []
        try TrainingRun.train(config: ExperimentConfig.parse(decoding, file: "tiny.yaml"), configText: decoding, root: split, base: base(),
                              dataDir: data, policy: .resume, say: { said.append($0) })
        #expect(said.contains { $0.contains("relations: finished earlier") })
        #expect(said.contains { $0.hasPrefix("resumed at step") })
        // The summary's seconds count the steps of both processes, not only the resumed one's.
        let headsRecords = try MetricsLog.read(MetricsRecord.self, from: headsLog.path)
        let firstProcess = headsRecords.filter { $0.kind == .train && $0.step <= stoppedAt }.reduce(0) { $0 + ($1.seconds ?? 0) }
        let laterSteps = headsRecords.filter { $0.step > stoppedAt }.reduce(0) { $0 + ($1.seconds ?? 0) }
        let headsSummary = try ResultsJSON.decode(AdapterRunSummary.self, from: Data(contentsOf: split.url.appendingPathComponent("heads/summary.json")))
        #expect(firstProcess > 0 && headsSummary.seconds > laterSteps)
        #expect(abs(headsSummary.seconds - MetricsRecord.trainingSeconds(headsRecords)) < 1e-9)

        for stage in ["relations", "heads", "facts"] {
            // The metrics log of the resumed run holds each step once, as the uninterrupted run's does.
            let steps = { (dir: URL) in try MetricsLog.read(MetricsRecord.self, from: dir.appendingPathComponent("\(stage)/metrics.jsonl").path).map { "\($0.kind) \($0.step)" } }
            #expect(try steps(split.url) == steps(whole.url), "\(stage): metrics log")
            let a = try last(whole.url, stage), b = try last(split.url, stage)
            #expect(a == b, "\(stage): resumed adapter differs")
            #expect(try kept(whole.url, stage) == kept(split.url, stage))
            // not vacuous: training moved B away from zero
            #expect(a.contains { $0.key.contains(".lora_B.") && $0.value.values.contains { $0 != 0 } })
            #expect(try kept(whole.url, stage).contains { $0.key.hasSuffix("lora_B.weight") && $0.value.values.contains { $0 != 0 } })
            // the finished run keeps its best adapter as PEFT files, and no HDF5 adapter
            for f in ["best.h5", "adapter.h5"] { #expect(!FileManager.default.fileExists(atPath: whole.url.appendingPathComponent("\(stage)/\(f)").path)) }
        }
        // … but not what does: another learning rate is refused, naming the finished adapter's summary.
        let otherRate = Self.config.replacingOccurrences(of: "learning_rate: 1.0e-2", with: "learning_rate: 2.0e-2")
        #expect(otherRate != Self.config)
        do {
            try TrainingRun.train(config: ExperimentConfig.parse(otherRate, file: "tiny.yaml"), configText: otherRate, root: split, base: base(),
                                  dataDir: data, policy: .resume, say: { _ in })
            Issue.record("a run trained with another learning rate was resumed")
        } catch let e as AutoREError {
            #expect("\(e)".contains("relations/summary.json") && "\(e)".contains("another config"))
        }
        let records = try MetricsLog.read(MetricsRecord.self, from: whole.url.appendingPathComponent("heads/metrics.jsonl").path)
        #expect(records.contains { $0.kind == .eval && $0.f1 != nil })
        #expect(FileManager.default.fileExists(atPath: whole.url.appendingPathComponent("facts/loss.svg").path))
    }

    @Test func runScoresTheSplitsAndTheReportReadsThem() throws {
        let ws = try workspace()
        defer { try? FileManager.default.removeItem(at: ws) }
        let runner = try ExperimentRunner(configPath: ws.appendingPathComponent("tiny.yaml").path, dataDir: ws.appendingPathComponent("redocred").path,
                                          command: "autore run --config tiny.yaml", runsRoot: ws.appendingPathComponent("runs"),
                                          resultsRoot: ws.appendingPathComponent("results"))
        #expect(!runner.isFinished())
        #expect(runner.progress() == "relations: not started; heads: not started; facts: not started; dev[3:5]: not extracted; test[0:2]: not extracted")
        // While another claim holds the run folder, the run refuses to start (and writes nothing) …
        let other = try RunLock(runner.runs)
        #expect(throws: RunBusy.self) { try runner.run(base: base(), say: { _ in }) }
        #expect(throws: RunBusy.self) { try RunLock(runner.runs) }
        #expect(!FileManager.default.fileExists(atPath: runner.runs.file("relations")))
        // … and starts once it is released; stopped at its first safe point, it says how far it got
        other.release()
        var asked = 0   // asked before the relations adapter (go on), then after its step 1 (stop)
        #expect(throws: RunStopped.self) { try runner.run(base: base(), stop: StopCondition { asked += 1; return asked > 1 }, say: { _ in }) }
        #expect(runner.progress() == "relations: training, last logged step 1; heads: not started; facts: not started; dev[3:5]: not extracted; test[0:2]: not extracted")
        let results = try runner.run(base: base(), say: { _ in })
        #expect(results.map(\.split) == ["dev[3:5]", "test[0:2]"])
        #expect(results.allSatisfy { $0.documents == 2 && $0.autore.total.gold > 0 && $0.extraction != nil })
        #expect(runner.isFinished())
        let steps = try ResultsJSON.decode([AdapterRunSummary].self, from: Data(contentsOf: URL(fileURLWithPath: runner.results.file("training.json")))).map(\.steps)
        #expect(runner.progress() == "relations: trained (\(steps[0]) steps); heads: trained (\(steps[1]) steps); facts: trained (\(steps[2]) steps); dev[3:5]: scored; test[0:2]: scored")
        for f in ["config.yaml", "command.txt", "training.json", "loss_heads.svg", "predictions_test_0-2.jsonl", "metrics_dev_3-5.json"] {
            #expect(FileManager.default.fileExists(atPath: runner.results.file(f)), "\(f) missing")
        }
        #expect(try PredictionRecord.load(URL(fileURLWithPath: runner.results.predictions("test[0:2]"))).count == 2)
        // finished: a second run returns the stored results without training
        var said: [String] = []
        let again = try runner.run(base: base(), say: { said.append($0) })
        #expect(said.count == 1 && said[0].contains("finished earlier"))
        #expect(again.map(\.autore.total) == results.map(\.autore.total))
        // the same settings written otherwise (a comment, the compute note, block style after --set) are
        // still finished; another setting under the same name is not
        let text = try String(contentsOf: ws.appendingPathComponent("tiny.yaml"), encoding: .utf8)
        let reworded = ws.appendingPathComponent("reworded.yaml")
        try ("# the same experiment\n" + text + "\ncompute: a few seconds\n").write(to: reworded, atomically: true, encoding: .utf8)
        func sameResultsRunner(_ path: URL, _ sets: [String] = []) throws -> ExperimentRunner {
            try ExperimentRunner(configPath: path.path, overrides: sets.map(ConfigOverride.init(parsing:)), command: "autore run",
                                 runsRoot: ws.appendingPathComponent("runs"), resultsRoot: ws.appendingPathComponent("results"))
        }
        #expect(try sameResultsRunner(reworded).isFinished())
        #expect(try sameResultsRunner(reworded, ["name=tiny"]).isFinished())
        #expect(try !sameResultsRunner(reworded, ["name=tiny", "extraction.max_new_tokens=7"]).isFinished())

        // a decoding variant of the finished run reads its adapters, trains nothing and leaves the run as it was
        let runConfig = try String(contentsOfFile: runner.runs.file("config.yaml"), encoding: .utf8)
        let variant = ws.appendingPathComponent("variant.yaml")
        try (text.replacingOccurrences(of: "name: tiny", with: "name: tiny_decoded\nrun: tiny")
             .replacingOccurrences(of: "batch_documents: 2}", with: "batch_documents: 2, constrained: true}"))
            .write(to: variant, atomically: true, encoding: .utf8)
        said = []
        let decoded = try sameResultsRunner(variant).run(base: base(), say: { said.append($0) })
        #expect(said.filter { $0.contains("finished earlier") }.count == 3)
        #expect(decoded.map(\.split) == ["dev[3:5]", "test[0:2]"] && decoded.allSatisfy { $0.analysis != nil })
        #expect(FileManager.default.fileExists(atPath: ws.appendingPathComponent("results/tiny_decoded/metrics_test_0-2.json").path))
        #expect(try String(contentsOfFile: runner.runs.file("config.yaml"), encoding: .utf8) == runConfig)
        #expect(!FileManager.default.fileExists(atPath: ws.appendingPathComponent("runs/tiny_decoded").path))
        #expect(!FileManager.default.fileExists(atPath: ws.appendingPathComponent("results/tiny_decoded/loss_heads.svg").path))
        // a variant of a run that was never trained is refused, not trained
        let orphan = ws.appendingPathComponent("orphan.yaml")
        try text.replacingOccurrences(of: "name: tiny", with: "name: orphan\nrun: nowhere").write(to: orphan, atomically: true, encoding: .utf8)
        #expect(throws: AutoREError.self) { try sameResultsRunner(orphan).run(base: base(), say: { _ in }) }
        #expect(!FileManager.default.fileExists(atPath: ws.appendingPathComponent("runs/nowhere").path))

        let md = try Report(root: ws, results: ws.appendingPathComponent("results")).markdown()
        #expect(md.contains("[tiny](tiny/)") && md.contains("test[0:2]") && md.contains("54.29"))
        #expect(md.contains("## Where the gold facts are lost") && md.contains("| tiny_decoded | test[0:2] |"))
    }

    /// `training.init_from` starts each stage's adapter from the finished run's kept adapter (best.h5) of the
    /// same stage, and refuses an adapter of another LoRA shape, naming the key.
    @Test func initFromStartsAtTheFinishedAdapter() throws {
        let ws = try workspace()
        defer { try? FileManager.default.removeItem(at: ws) }
        let data = ws.appendingPathComponent("redocred").path
        let runs = ws.appendingPathComponent("runs")
        let first = RunDirectory(runs.appendingPathComponent("first"))
        try TrainingRun.train(config: ExperimentConfig.parse(Self.config, file: "tiny.yaml"), configText: Self.config, root: first,
                              base: base(), dataDir: data, policy: .fresh, say: { _ in })
        let next = Self.config.replacingOccurrences(of: "seed: 1}", with: "seed: 1, init_from: first}")
            .replacingOccurrences(of: "name: tiny", with: "name: next")
        #expect(next.contains("init_from: first"))
        var started: [String: [String: FloatArray]] = [:]
        var said: [String] = []
        try TrainingRun.train(config: ExperimentConfig.parse(next, file: "next.yaml"), configText: next, root: RunDirectory(runs.appendingPathComponent("next")),
                              base: base(), dataDir: data, policy: .fresh, say: { said.append($0) }, prepare: { t in
            started[t.adapter] = TrainedAdapter(model: t.model, adapter: t.adapter, stage: .allStages, lora: LoRAConfig(), config: "", step: 0).weights
        })
        #expect(started.count == 3)
        for stage in ["relations", "heads", "facts"] {
            let keptWeights = try kept(first.url, stage)
            #expect(started[stage] == keptWeights, "\(stage): training did not start from first/\(stage)/peft")
            #expect(keptWeights.contains { $0.key.hasSuffix("lora_B.weight") && $0.value.values.contains { $0 != 0 } })
        }
        #expect(said.contains { $0.contains("starts from") && $0.contains("first/heads/peft") })
        // the starting adapter is evaluated before the first step, a candidate for best.h5
        let evals = try MetricsLog.read(MetricsRecord.self, from: runs.appendingPathComponent("next/heads/metrics.jsonl").path).filter { $0.kind == .eval }
        #expect(evals.first?.step == 0 && evals.count == 4)
        let summary = try ResultsJSON.decode(AdapterRunSummary.self, from: Data(contentsOf: runs.appendingPathComponent("next/facts/summary.json")))
        #expect(summary.initFrom?.hasSuffix("first/facts/peft") == true)

        let otherRank = next.replacingOccurrences(of: "rank: 2", with: "rank: 3")
        do {
            try TrainingRun.train(config: ExperimentConfig.parse(otherRank, file: "next.yaml"), configText: otherRank,
                                  root: RunDirectory(runs.appendingPathComponent("next3")), base: base(), dataDir: data, policy: .fresh, say: { _ in })
            Issue.record("an adapter of rank 2 started a rank-3 run")
        } catch let e as AutoREError {
            #expect("\(e)".contains("rank 2") && "\(e)".contains("init_from"))
        }
        let missing = next.replacingOccurrences(of: "init_from: first", with: "init_from: nowhere")
        #expect(throws: AutoREError.self) {
            try TrainingRun.train(config: ExperimentConfig.parse(missing, file: "next.yaml"), configText: missing,
                                  root: RunDirectory(runs.appendingPathComponent("next4")), base: base(), dataDir: data, policy: .fresh, say: { _ in })
        }
    }

    /// `evaluation.patience` ends a stage's training once that many evaluations in a row have not beaten the
    /// best, keeps the best adapter, and says so in the summary; a resumed run does not train past that point.
    @Test func patienceStopsTrainingEarly() throws {
        let ws = try workspace()
        defer { try? FileManager.default.removeItem(at: ws) }
        let data = ws.appendingPathComponent("redocred").path
        // Learning rate 0: the held-out loss never improves on the first evaluation.
        let text = Self.config.replacingOccurrences(of: "steps: 5,", with: "steps: 40,")
            .replacingOccurrences(of: "learning_rate: 1.0e-2", with: "learning_rate: 1.0e-9")
            .replacingOccurrences(of: "every: 2, loss_groups: 2, generation_documents: 1, select_by: f1", with: "every: 3, loss_groups: 2, generation_documents: 0, select_by: loss, patience: 2")
            .replacingOccurrences(of: "paradigm: D_R_H_F", with: "paradigm: D_F")
        #expect(text.contains("patience: 2") && text.contains("steps: 40"))
        let root = RunDirectory(ws.appendingPathComponent("run"))
        let s = try TrainingRun.train(config: ExperimentConfig.parse(text, file: "tiny.yaml"), configText: text, root: root, base: base(),
                                      dataDir: data, policy: .fresh, say: { _ in })
        #expect(s.count == 1)
        let log = try MetricsLog.read(MetricsRecord.self, from: root.url.appendingPathComponent("facts/metrics.jsonl").path)
        let evals = log.filter { $0.kind == .eval }
        // The loss moves by rounding only; stopping must follow the logged values.
        let bestStep = evals.reduce(evals[0]) { $1.loss < $0.loss ? $1 : $0 }.step
        #expect(s[0].best?.step == bestStep)
        #expect(s[0].stoppedEarly == true && s[0].plannedSteps == 40)
        #expect(s[0].steps == bestStep + 2 * 3 && s[0].steps < 40)
        #expect(evals.filter { $0.step > bestStep }.count == 2)
        #expect(log.filter { $0.kind == .train }.map(\.step).max() == s[0].steps)
    }

    /// `fine_tuning: full` through `autore run`'s pipeline: every weight trained on a copy of the given base
    /// (which stays as it was), stopped and resumed to the same weights bit for bit as an uninterrupted run,
    /// the best and the last model kept as safetensors, and the splits decoded with the kept model.
    @Test func fullFineTuningRunTrainsACopyResumesAndDecodesWithTheKeptModel() throws {
        let ws = try workspace()
        defer { try? FileManager.default.removeItem(at: ws) }
        let data = ws.appendingPathComponent("redocred").path
        let text = Self.config.replacingOccurrences(of: "stage: each", with: "stage: all\nfine_tuning: full")
            .replacingOccurrences(of: "learning_rate: 1.0e-2", with: "learning_rate: 1.0e-3")
            .replacingOccurrences(of: "select_by: f1", with: "select_by: loss")
        #expect(text.contains("fine_tuning: full") && text.contains("select_by: loss"))
        let path = ws.appendingPathComponent("full.yaml")
        try text.write(to: path, atomically: true, encoding: .utf8)
        func runner(_ name: String) throws -> ExperimentRunner {
            try ExperimentRunner(configPath: path.path, dataDir: data, command: "autore run --config full.yaml",
                                 runsRoot: ws.appendingPathComponent("runs-\(name)"), resultsRoot: ws.appendingPathComponent("results-\(name)"))
        }
        let given = try base()
        let before = try given.model.weightTensors()
        let whole = try runner("whole"), split = try runner("split")
        let wholeResults = try whole.run(base: given, say: { _ in })
        #expect(try given.model.weightTensors().map(\.values) == before.map(\.values), "the given base was trained in place")

        var asked = 0   // before training (go on), after step 1 (go on), after step 2 checkpoints anyway, after step 3 (stop)
        #expect(throws: RunStopped.self) { try split.run(base: base(), stop: StopCondition { asked += 1; return asked == 3 }, say: { _ in }) }
        let partial = try Checkpoint(contentsOf: split.runs.file("checkpoint.h5"))
        #expect(partial.strings["trains"] == "all" && partial.integers["step"]! > 0 && partial.integers["step"]! < 5)
        let splitResults = try split.run(base: base(), say: { _ in })

        for kept in ["best", "final"] {
            let a = try SafetensorsFile(path: whole.runs.file("\(kept)/model.safetensors")), b = try SafetensorsFile(path: split.runs.file("\(kept)/model.safetensors"))
            #expect(a.tensors.map(\.name) == b.tensors.map(\.name))
            for t in a.tensors { #expect(a.floats(t) == b.floats(b.tensor(named: t.name)!), "\(kept): \(t.name) differs after resuming") }
            #expect(try FineTunedModel.info(whole.runs.path + "/" + kept).config == text)
        }
        // not vacuous: every tensor kind moved (embeddings, norms, projections)
        let final = try SafetensorsFile(path: whole.runs.file("final/model.safetensors"))
        let original = Dictionary(uniqueKeysWithValues: before.map { ($0.name, $0.values) })
        for name in ["model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.mlp.down_proj.weight"] {
            #expect(try final.floats(name) != original[name], "\(name) did not move")
        }
        let best = try FineTunedModel.info(whole.runs.path + "/best").step
        let summary = try ResultsJSON.decode([AdapterRunSummary].self, from: Data(contentsOf: URL(fileURLWithPath: whole.results.file("training.json"))))
        #expect(summary.count == 1 && summary[0].best?.step == best && summary[0].steps == 5)
        #expect(!FileManager.default.fileExists(atPath: whole.runs.file("best.h5")) && !FileManager.default.fileExists(atPath: whole.runs.file("adapter.h5")))
        // finished: the optimizer state (three times the model) goes, final/ keeps the weights
        #expect(!FileManager.default.fileExists(atPath: whole.runs.file("checkpoint.h5")) && !FileManager.default.fileExists(atPath: split.runs.file("checkpoint.h5")))

        // the splits are decoded with the kept (best) model, the same in both runs
        #expect(wholeResults.map(\.split) == ["dev[3:5]", "test[0:2]"])
        #expect(wholeResults.allSatisfy { $0.adapterSteps["all"] == best && $0.notes.contains { $0.contains("every weight fine-tuned") } })
        let predictions = { (r: ExperimentRunner) in try Data(contentsOf: URL(fileURLWithPath: r.results.predictions("test[0:2]"))) }
        #expect(try predictions(whole) == predictions(split))
        #expect(splitResults.map(\.autore.total) == wholeResults.map(\.autore.total))
    }

    /// What `fine_tuning: full` cannot be combined with is refused, naming the setting.
    @Test func fullFineTuningRefusesAQuantizedBaseAndPerStageAdapters() throws {
        let full = Self.config.replacingOccurrences(of: "stage: each", with: "stage: all\nfine_tuning: full")
        for (text, words) in [(full.replacingOccurrences(of: "quantization: none", with: "quantization: nf4"), ["quantization: none", "nf4"]),
                              (full.replacingOccurrences(of: "stage: all", with: "stage: each"), ["stage: all", "each"]),
                              (full.replacingOccurrences(of: "seed: 1}", with: "seed: 1, init_from: other}"), ["init_from"]),
                              (full.replacingOccurrences(of: "fine_tuning: full", with: "fine_tuning: partial"), ["lora or full", "partial"])] {
            do { _ = try ExperimentConfig.parse(text, file: "full.yaml"); Issue.record("accepted: \(words)") } catch let e as ConfigError {
                #expect(e.file == "full.yaml" && words.allSatisfy { "\(e)".contains($0) }, "\(e)")
            }
        }
        #expect(try ExperimentConfig.parse(full, file: "full.yaml").fineTuning == .full)
        #expect(try ExperimentConfig.parse(Self.config, file: "tiny.yaml").fineTuning == .lora)
    }
}

