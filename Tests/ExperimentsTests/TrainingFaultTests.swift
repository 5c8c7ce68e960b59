// Numerical faults in a training run: skipped steps are logged, too many in a row stop the run with an
// error naming the last good checkpoint, which stays byte for byte as it was and resumes; loss spikes are
// logged with their step and batch. NaN is injected through the trainer's test hook.
import DocRE
import Foundation
import ModelFormats
import Testing
@testable import Experiments
@testable import RHF
@testable import FineTuning

@Suite(.serialized) struct TrainingFaultTests {
    let runs = TrainingRunTests()

    /// The tiny run of TrainingRunTests, one adapter, with the given training section.
    func config(_ training: String, evaluation: String = "{every: 2, loss_groups: 2, generation_documents: 0}") -> String {
        var lines = TrainingRunTests.config.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for i in lines.indices {
            if lines[i].hasPrefix("stage:") { lines[i] = "stage: relations" }
            if lines[i].hasPrefix("training:") { lines[i] = "training: \(training)" }
            if lines[i].hasPrefix("evaluation:") { lines[i] = "evaluation: \(evaluation)" }
        }
        return lines.joined(separator: "\n")
    }

    @Test func consecutiveNonFiniteStepsStopTheRunAndKeepTheLastGoodCheckpoint() throws {
        let ws = try runs.workspace()
        defer { try? FileManager.default.removeItem(at: ws) }
        let text = config("{steps: 8, checkpoint_every: 2, max_bad_steps: 3, max_questions_per_group: 3, cutoff_length: 4096, seed: 1}")
        let cfg = try ExperimentConfig.parse(text, file: "tiny.yaml")
        let data = ws.appendingPathComponent("redocred").path
        let root = RunDirectory(ws.appendingPathComponent("run"))
        let checkpoint = root.file("checkpoint.h5")
        var atFirstFault: Data?
        do {
            try TrainingRun.train(config: cfg, configText: text, root: root, base: runs.base(), dataDir: data, policy: .fresh, say: { _ in }) { t in
                t.injectFault = { attempt in
                    if attempt == 4 { atFirstFault = FileManager.default.contents(atPath: checkpoint) }
                    return attempt >= 4 ? .loss(.nan) : nil
                }
            }
            Issue.record("three non-finite steps in a row did not stop the run")
        } catch let e as AutoREError {
            let s = "\(e)"
            #expect(s.contains("3 steps in a row had a non-finite loss") && s.contains("max_bad_steps = 3"), "\(s)")
            #expect(s.contains("\(checkpoint) (step 2), is kept"), "\(s)")
        }
        // The checkpoint of step 2 (the last one written before the faults), byte for byte.
        let bytes = try #require(atFirstFault)
        #expect(FileManager.default.contents(atPath: checkpoint) == bytes)
        #expect(try Checkpoint(contentsOf: checkpoint).integers["step"] == 2)
        #expect(!FileManager.default.fileExists(atPath: root.file("summary.json")))
        // Each skipped step is in the log with its loss and batch; the steps taken before are there once.
        let records = try MetricsLog.read(MetricsRecord.self, from: root.file("metrics.jsonl"))
        let skipped = records.filter { $0.kind == .skipped }
        #expect(skipped.count == 3 && skipped.allSatisfy { $0.step == 4 && $0.loss.isNaN && $0.groups?.count == 1 }, "\(skipped)")
        #expect(records.filter { $0.kind == .train }.map(\.step) == [1, 2, 3])

        // The fault gone, the run resumes from that checkpoint and finishes.
        var said: [String] = []
        try TrainingRun.train(config: cfg, configText: text, root: root, base: runs.base(), dataDir: data, policy: .resume, say: { said.append($0) })
        #expect(said.contains("resumed at step 2 of 8"), "\(said)")
        #expect(try Checkpoint(contentsOf: checkpoint).integers["step"] == 8)
        let train = try MetricsLog.read(MetricsRecord.self, from: root.file("metrics.jsonl")).filter { $0.kind == .train }.map(\.step)
        #expect(train == Array(1...8))
    }

    @Test func aLossSpikeIsLoggedWithItsStepAndBatch() throws {
        let ws = try runs.workspace()
        defer { try? FileManager.default.removeItem(at: ws) }
        let text = config("{steps: 13, checkpoint_every: 100, max_questions_per_group: 3, cutoff_length: 4096, seed: 1}",
                          evaluation: "{every: 100, loss_groups: 1, generation_documents: 0}")
        let cfg = try ExperimentConfig.parse(text, file: "tiny.yaml")
        let root = RunDirectory(ws.appendingPathComponent("run"))
        try TrainingRun.train(config: cfg, configText: text, root: root, base: runs.base(), dataDir: ws.appendingPathComponent("redocred").path,
                              policy: .fresh, say: { _ in }) { t in
            t.injectFault = { $0 == 12 ? .loss(1000) : nil }
        }
        let records = try MetricsLog.read(MetricsRecord.self, from: root.file("metrics.jsonl"))
        let spikes = records.filter { $0.kind == .spike }
        #expect(spikes.count == 1, "\(spikes)")
        let s = try #require(spikes.first)
        #expect(s.step == 12 && s.loss == 1000 && s.groups?.count == 1 && (s.median ?? .infinity) < 1000 / 3)
        // the spike is a step taken: it is logged as a train step too, and no step was skipped
        #expect(records.filter { $0.kind == .train }.map(\.step) == Array(1...13) && !records.contains { $0.kind == .skipped })
    }
}
