// The command line refuses settings that make no sense before it starts any work: a non-positive or
// non-finite --time-limit, and a config that names none of base_model, paradigm and data.
import Foundation
import Testing

@Suite struct RefusalTests {
    @Test func timeLimitMustBePositiveAndFinite() throws {
        let child = Child(exe: try KillResumeTests.autoreExecutable())
        let fx = try KillResumeTests.Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        for bad in ["0", "-1", "nan", "inf"] {
            let folder = fx.runFolder("limit\(bad)")
            let r = try child.run(["train", "--config", fx.config.path, "--out", folder.path, "--data-dir", fx.data.path, "--time-limit=\(bad)"])
            #expect(r.status != 0 && r.errors.contains("--time-limit must be a positive, finite number of minutes"), "\(bad): \(r.errors)")
            #expect(!FileManager.default.fileExists(atPath: folder.path), "\(bad): a run folder was made")
        }
    }

    @Test func aConfigHoldingOnlyANameIsRefused() throws {
        let child = Child(exe: try KillResumeTests.autoreExecutable())
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-refusal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let config = root.appendingPathComponent("only.yaml")
        try "name: only\ntraining: {steps: 3}\n".write(to: config, atomically: true, encoding: .utf8)
        let folder = root.appendingPathComponent("run")
        // an empty data folder: were the config accepted, the run would fail fast instead of training on defaults
        let r = try child.run(["train", "--config", config.path, "--out", folder.path, "--data-dir", root.path])
        #expect(r.status != 0 && r.errors.contains("only.yaml") && r.errors.contains("names none of base_model, paradigm, data"), "\(r.errors)")
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }
}
