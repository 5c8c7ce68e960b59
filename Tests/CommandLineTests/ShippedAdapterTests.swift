// A run that trains one stage takes the other stages from the adapters shipped for its base model
// (`Data/adapters/<base>-rhf/`, `RunAdapters.shipped(for:)`): stage folders (SmolLM2's three), or one `all/`
// adapter answering every stage (Gemma 3's, which the quickstart uses).
import Foundation
import Testing

@Suite struct ShippedAdapterTests {
    @Test func aOneStageRunTakesTheOtherStagesFromItsBasesSharedAdapter() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try DataParallelTests.Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        // an adapter answering every stage over the fixture's model, written where shipped adapters live
        let (s0, e0) = try fx.train(exe, ranks: nil, out: "shared", extra: ["--steps", "2"])
        #expect(s0 == 0, "\(e0)")
        let root = fx.root.appendingPathComponent("root"), data = root.appendingPathComponent("Data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let project = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Data")
        for item in try FileManager.default.contentsOfDirectory(atPath: project.path) where item != "adapters" {
            try FileManager.default.createSymbolicLink(at: data.appendingPathComponent(item), withDestinationURL: project.appendingPathComponent(item))
        }
        // the fixture's base model is the folder `model`: its shipped adapters are Data/adapters/model-rhf
        let shipped = data.appendingPathComponent("adapters/model-rhf")
        let (s1, e1) = try fx.command(exe, ranks: nil, ["adapter", "export", "--run", fx.root.appendingPathComponent("shared").path, "--out", shipped.path])
        #expect(s1 == 0, "\(e1)")
        #expect(FileManager.default.fileExists(atPath: shipped.appendingPathComponent("all/adapter_model.safetensors").path))
        try FileManager.default.copyItem(at: fx.data.appendingPathComponent("dev_revised.json"), to: fx.data.appendingPathComponent("test_revised.json"))
        func run(_ name: String) throws -> (String, [String: Int]) {
            let config = root.appendingPathComponent("\(name).yaml")
            try tinyRunConfig(name: name, model: fx.model,
                              training: "{steps: 2, accumulation: 1, cutoff_length: 1024, max_questions_per_group: 3, checkpoint_every: 2, seed: 5}",
                              data: #"{train: dev, select: "dev[0:1]", test: "test[0:1]"}"#,
                              extra: "extraction: {max_new_tokens: {relations: 8, heads: 8, facts: 8}, batch_documents: 1}\n")
                .replacingOccurrences(of: "stage: all", with: "stage: relations").write(to: config, atomically: true, encoding: .utf8)
            let (status, said) = try fx.command(exe, ranks: nil, ["run", "--config", config.path, "--data-dir", fx.data.path, "--root", root.path])
            #expect(status == 0, "\(said)")
            let metrics = root.appendingPathComponent("Experiments/results/\(name)/metrics_test_0-1.json")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: metrics)) as? [String: Any]
            return (said, json?["adapterSteps"] as? [String: Int] ?? [:])
        }
        let (said, steps) = try run("with")
        for stage in ["heads", "facts"] {
            #expect(said.contains("the \(stage) stage is answered by the shipped adapter (Data/adapters/model-rhf)"), "\(said)")
        }
        // the results name the steps of both adapters: the run's own (relations) and the shared one (all)
        #expect(steps["relations"] == 2 && steps["all"] == 2, "\(steps)")
        // without a shipped adapter for this base, the base model answers the other stages
        try FileManager.default.removeItem(at: shipped)
        let (alone, aloneSteps) = try run("without")
        #expect(alone.contains("the heads stage is answered by the base model without an adapter"), "\(alone)")
        #expect(aloneSteps["all"] == nil && aloneSteps["relations"] == 2, "\(aloneSteps)")
    }
}
