// `autore train` under `mpirun -np 2` (data parallel: each step's prefix groups split over two ranks, the
// gradients summed) against one process accumulating the same groups: the same adapter up to float
// summation order after 10 steps, and a checkpoint written by two ranks resumed by one ends the same.
// Needs Open MPI's mpirun (Scripts/setup installs openmpi-bin); a missing mpirun fails, it is not skipped.
import Foundation
import ModelFormats
import Testing
import TestSupport

@Suite(.serialized) struct DataParallelTests {
    static func mpirun() throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib64/openmpi/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/mpirun") {
            return dir + "/mpirun"
        }
        throw KillResumeTests.Failure("mpirun not found: install openmpi-bin (bash Scripts/setup does)")
    }

    struct Fixture {
        let root: URL
        var model: URL { root.appendingPathComponent("model") }
        var data: URL { root.appendingPathComponent("data") }
        var config: URL { root.appendingPathComponent("dp.yaml") }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-dp-\(UUID().uuidString)")
            _ = try writeTinyRunInputs(root: root, seed: 13)
            // Four groups a step (three questions each, of unequal length), dropout on: the ranks must draw
            // the masks one process would.
            try tinyRunConfig(name: "data-parallel", model: model,
                              training: "{steps: 10, accumulation: 4, cutoff_length: 1024, max_questions_per_group: 3, checkpoint_every: 5, seed: 5}")
                .write(to: config, atomically: true, encoding: .utf8)
        }

        func train(_ exe: URL, ranks: Int?, out: String, extra: [String] = []) throws -> (Int32, String) {
            try command(exe, ranks: ranks, ["train", "--config", config.path, "--out", root.appendingPathComponent(out).path, "--data-dir", data.path] + extra)
        }

        /// `autore args…`, alone or under `mpirun -np ranks`: its exit status and what it printed.
        func command(_ exe: URL, ranks: Int?, _ args: [String]) throws -> (Int32, String) {
            if let ranks { return try launch(URL(fileURLWithPath: try DataParallelTests.mpirun()), ["-np", "\(ranks)", "--oversubscribe", exe.path] + args) }
            return try launch(exe, args)
        }

        /// One `mpirun` whose ranks run `autore` with arguments of their own (rank i gets `perRank[i]`).
        func commandPerRank(_ exe: URL, _ perRank: [[String]]) throws -> (Int32, String) {
            let apps = perRank.map { ["-np", "1", exe.path] + $0 }
            return try launch(URL(fileURLWithPath: try DataParallelTests.mpirun()),
                              ["--oversubscribe"] + apps.dropFirst().reduce(apps[0]) { $0 + [":"] + $1 })
        }

        /// Runs a process to its end (killed after `limit` seconds, which a hang would reach): exit status and output.
        func launch(_ executable: URL, _ args: [String], limit: TimeInterval = 300) throws -> (Int32, String) {
            let p = Process(), err = Pipe()
            p.executableURL = executable
            p.arguments = args
            var env = ProcessInfo.processInfo.environment
            env["AUTORE_THREADS"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
            env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"   // containers forbid the cross-memory attach
            p.environment = env
            p.standardOutput = err   // what it says and its errors, together
            p.standardError = err
            try p.run()
            let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
            DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: watchdog)
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            watchdog.cancel()
            return (p.terminationStatus, p.terminationReason == .uncaughtSignal ? "killed after \(Int(limit)) s (a hang?): " + text : text)
        }

        /// The adapter after the last step (in the run's last checkpoint; a finished run keeps only its best adapter).
        func adapter(_ out: String) throws -> [String: FloatArray] {
            try Checkpoint(contentsOf: root.appendingPathComponent("\(out)/checkpoint.h5").path).floats.filter { $0.key.hasPrefix("adapter/") }
        }
    }

    /// The largest difference over the largest magnitude, over every weight of two adapters with the same keys.
    static func relativeDifference(_ a: [String: FloatArray], _ b: [String: FloatArray]) throws -> Float {
        guard Set(a.keys) == Set(b.keys), !a.isEmpty else { throw KillResumeTests.Failure("adapters hold different weights: \(a.keys.sorted()) / \(b.keys.sorted())") }
        var diff: Float = 0, scale: Float = 0
        for (k, x) in a {
            let y = b[k]!
            guard x.shape == y.shape else { throw KillResumeTests.Failure("\(k): shapes \(x.shape) / \(y.shape)") }
            for (u, v) in zip(x.values, y.values) { diff = max(diff, abs(u - v)); scale = max(scale, abs(u)) }
        }
        return diff / max(scale, 1e-30)
    }

    @Test func twoRanksEqualOneProcessAccumulatingTheSameGroups() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let (s1, e1) = try fx.train(exe, ranks: nil, out: "one")
        #expect(s1 == 0, "one process: \(e1)")
        let (s2, e2) = try fx.train(exe, ranks: 2, out: "two")
        #expect(s2 == 0, "two ranks: \(e2)")
        #expect(e2.contains("data parallel: 2 ranks"), "\(e2)")
        let one = try fx.adapter("one"), two = try fx.adapter("two")
        let d = try Self.relativeDifference(one, two)
        #expect(d <= 1e-5, "two ranks differ from one process by \(d) (relative)")
        // not vacuous: ten steps moved the adapter, and another seed's dropout would move it elsewhere
        #expect(one.contains { $0.key.contains("lora_B") && $0.value.values.contains { $0 != 0 } })
        // the lead alone wrote the metrics: ten train records, once each
        let log = try String(contentsOf: fx.root.appendingPathComponent("two/metrics.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").filter { $0.contains("\"kind\":\"train\"") }.count == 10)
    }

    /// `training.reduction: ordered`: every group's gradient is added in batch order on every rank, so two
    /// ranks (two groups each of the four) end with the very bits one process ends with, after 10 steps.
    @Test func orderedReductionGivesOneProcessesBits() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let ordered = ["--set", "training.reduction=ordered"]
        let (s1, e1) = try fx.train(exe, ranks: nil, out: "one", extra: ordered)
        #expect(s1 == 0, "one process: \(e1)")
        let (s2, e2) = try fx.train(exe, ranks: 2, out: "two", extra: ordered)
        #expect(s2 == 0 && e2.contains("data parallel: 2 ranks"), "two ranks: \(e2)")
        let one = try fx.adapter("one"), two = try fx.adapter("two")
        let gap = (try? Self.relativeDifference(one, two)) ?? .nan
        #expect(!one.isEmpty && one == two, "two ranks differ from one process by \(gap) (relative)")
        // and the ordered sum is the gradient the running sum gives, up to the order of additions
        let (s3, e3) = try fx.train(exe, ranks: nil, out: "sum")
        #expect(s3 == 0, "\(e3)")
        let d = try Self.relativeDifference(one, try fx.adapter("sum"))
        #expect(d <= 1e-5, "ordered and running sums differ by \(d) (relative)")
    }

    @Test func aCheckpointOfTwoRanksResumesOnOne() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let (s1, e1) = try fx.train(exe, ranks: nil, out: "straight")
        #expect(s1 == 0, "\(e1)")
        // the ranks stop together after step 3, which is checkpointed (checkpoints fall every 5 steps)
        let (s2, e2) = try fx.train(exe, ranks: 2, out: "split", extra: ["--stop-at-step", "3"])
        #expect(s2 == 0, "\(e2)")
        let partial = try Checkpoint(contentsOf: fx.root.appendingPathComponent("split/checkpoint.h5").path)
        #expect(partial.integers["step"] == 3)
        #expect(!FileManager.default.fileExists(atPath: fx.root.appendingPathComponent("split/adapter.h5").path))
        let (s3, e3) = try fx.train(exe, ranks: nil, out: "split", extra: ["--resume"])
        #expect(s3 == 0, "\(e3)")
        let d = try Self.relativeDifference(try fx.adapter("straight"), try fx.adapter("split"))
        #expect(d <= 1e-5, "resumed on one rank differs by \(d) (relative)")
    }

    /// Bad setups under `mpirun -np 2` end every rank with one clear error and no files half-written: ranks
    /// that read different configs (a CRC-32 broadcast from rank 0), and a rank that cannot load its data.
    @Test func badSetupsStopEveryRank() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let other = fx.root.appendingPathComponent("other.yaml")
        let text = try String(contentsOf: fx.config, encoding: .utf8)
        try text.replacingOccurrences(of: "seed: 5", with: "seed: 6").write(to: other, atomically: true, encoding: .utf8)
        #expect(text.contains("seed: 5"))
        func args(_ config: URL, data: URL, out: String) -> [String] {
            ["train", "--config", config.path, "--out", fx.root.appendingPathComponent(out).path, "--data-dir", data.path]
        }
        // rank 1 reads another config: both ranks stop before training
        let (s1, e1) = try fx.commandPerRank(exe, [args(fx.config, data: fx.data, out: "mixed"), args(other, data: fx.data, out: "mixed")])
        #expect(s1 != 0, "\(e1)")
        #expect(e1.contains("rank 1's config (\(other.path)) differs from rank 0's"), "\(e1)")
        #expect(e1.components(separatedBy: "differs from rank 0's").count - 1 == 2, "each rank says why it stopped: \(e1)")
        #expect(!FileManager.default.fileExists(atPath: fx.root.appendingPathComponent("mixed/checkpoint.h5").path))
        // rank 1 finds no data where it looks: it says so, and rank 0 stops naming rank 1
        let missing = fx.root.appendingPathComponent("no-data")
        let (s2, e2) = try fx.commandPerRank(exe, [args(fx.config, data: fx.data, out: "lost"), args(fx.config, data: missing, out: "lost")])
        #expect(s2 != 0, "\(e2)")
        #expect(e2.contains(missing.path) && e2.contains("rank 1: "), "\(e2)")
        #expect(!e2.contains("killed after"), "\(e2)")
        #expect(!FileManager.default.fileExists(atPath: fx.root.appendingPathComponent("lost/checkpoint.h5").path))
        #expect(!FileManager.default.fileExists(atPath: fx.root.appendingPathComponent("lost/metrics.jsonl").path))
        // the same setup with rank 1's data in place trains (the failures above were the setups')
        let (s3, e3) = try fx.commandPerRank(exe, [args(fx.config, data: fx.data, out: "fine") + ["--steps", "2"],
                                                   args(fx.config, data: fx.data, out: "fine") + ["--steps", "2"]])
        #expect(s3 == 0, "\(e3)")
    }

    /// Fewer groups a step than ranks: the run still trains (the idle rank joins each sum with nothing), and
    /// it says that a rank only waits.
    @Test func aRankWithoutGroupsIsNamed() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let (s, e) = try fx.train(exe, ranks: 2, out: "idle", extra: ["--set", "training.accumulation=1", "--steps", "2"])
        #expect(s == 0, "\(e)")
        #expect(e.contains("note: training.accumulation 1 gives 1 of the 2 ranks no group at each step"), "\(e)")
        let (s4, e4) = try fx.train(exe, ranks: 2, out: "busy", extra: ["--steps", "2"])
        #expect(s4 == 0 && !e4.contains("no group at each step"), "\(e4)")
    }

    /// `autore extract` under `mpirun -np 2`: five documents, one per batch, so the ranks take turns over three
    /// rounds (the last with rank 1 idle); rank 0 writes the file one process writes, byte for byte. A file
    /// holding only the first document is resumed by two ranks to the same file.
    @Test func twoRanksExtractTheFileOneProcessWrites() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let (s0, e0) = try fx.train(exe, ranks: nil, out: "run", extra: ["--steps", "3"])
        #expect(s0 == 0, "training the run to extract with: \(e0)")
        // the fixture's two Re-DocRED documents and three plain texts
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: fx.data.appendingPathComponent("dev_revised.json"))) as! [Any]
        var lines = try fixture.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        lines += ["Marie Curie was born in Warsaw.", "Paris is the capital of France.", "Ada Lovelace worked with Charles Babbage."]
            .enumerated().map { "{\"title\": \"text \($0.offset)\", \"text\": \"\($0.element)\"}" }
        let input = fx.root.appendingPathComponent("documents.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        func extract(_ ranks: Int?, _ out: String) throws -> Data {
            let (status, said) = try fx.command(exe, ranks: ranks, ["extract", "--run", fx.root.appendingPathComponent("run").path,
                                                                   "--input", input.path, "--out", fx.root.appendingPathComponent(out).path,
                                                                   "--batch-documents", "1", "--max-new-tokens", "12"])
            #expect(status == 0, "\(ranks.map { "\($0) ranks" } ?? "one process"): \(said)")
            return try Data(contentsOf: fx.root.appendingPathComponent(out))
        }
        let one = try extract(nil, "one.jsonl")
        #expect(one.split(separator: UInt8(ascii: "\n")).count == 5, "one line per document")
        #expect(try extract(2, "two.jsonl") == one, "two ranks write what one process writes")
        // resumed: the first document's line only
        let first = one.prefix(through: one.firstIndex(of: UInt8(ascii: "\n"))!)
        try Data(first).write(to: fx.root.appendingPathComponent("resumed.jsonl"))
        #expect(try extract(2, "resumed.jsonl") == one, "two ranks resume a file and write the rest in order")
        // under mpirun the documents go to a file: without --out the command says so
        let (status, said) = try fx.command(exe, ranks: 2, ["extract", "--run", fx.root.appendingPathComponent("run").path, "--input", input.path])
        #expect(status != 0 && said.contains("needs --out"), "\(said)")
    }

    /// A root for `autore run` and `autore sweep` (`--root`): the project's Data/ (relation descriptions)
    /// linked in, the fixture documents as dev and test, and experiment configs like `dp.yaml` that train
    /// 4 steps and extract one selection and two test documents with short answers.
    static func runRoot(_ fx: Fixture, names: [String]) throws -> URL {
        let project = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try FileManager.default.createSymbolicLink(at: fx.root.appendingPathComponent("Data"), withDestinationURL: project.appendingPathComponent("Data"))
        try FileManager.default.copyItem(at: fx.data.appendingPathComponent("dev_revised.json"), to: fx.data.appendingPathComponent("test_revised.json"))
        for name in names {
            try tinyRunConfig(name: name, model: fx.model,
                              training: "{steps: 4, accumulation: 4, cutoff_length: 1024, max_questions_per_group: 3, checkpoint_every: 2, seed: 5}",
                              data: #"{train: dev, select: "dev[0:1]", test: "test[0:2]"}"#,
                              extra: "extraction: {max_new_tokens: {relations: 12, heads: 12, facts: 12}, batch_documents: 1}\n")
                .write(to: fx.root.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        }
        return fx.root
    }

    /// `autore run` under `mpirun -np 2`: the ranks train data parallel and share the documents; rank 0 alone
    /// writes the results folder and prints the table. The adapter is one process's up to summation order,
    /// and the results hold the same documents.
    @Test func autoreRunUnderTwoRanks() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let root = try Self.runRoot(fx, names: ["together"])
        func run(_ ranks: Int?, _ folder: String) throws -> String {
            let r = root.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: r, withIntermediateDirectories: true)
            try? FileManager.default.createSymbolicLink(at: r.appendingPathComponent("Data"), withDestinationURL: root.appendingPathComponent("Data"))
            let (status, said) = try fx.command(exe, ranks: ranks, ["run", "--config", root.appendingPathComponent("together.yaml").path,
                                                                   "--data-dir", fx.data.path, "--root", r.path])
            #expect(status == 0, "\(ranks.map { "\($0) ranks" } ?? "one process"): \(said)")
            return said
        }
        _ = try run(nil, "one")
        let said = try run(2, "two")
        #expect(said.contains("data parallel: 2 ranks"), "\(said)")
        // rank 0 alone speaks: the table's header line once
        #expect(said.components(separatedBy: "| split | docs | AutoRE P").count - 1 == 1, "\(said)")
        #expect(said.components(separatedBy: "together · test[0:2]: AutoRE F1").count - 1 == 1, "\(said)")
        let results = { (folder: String) in root.appendingPathComponent("\(folder)/Experiments/results/together") }
        for f in ["metrics_dev_0-1.json", "metrics_test_0-2.json", "training.json", "config.yaml"] {
            #expect(FileManager.default.fileExists(atPath: results("two").appendingPathComponent(f).path), "\(f) missing")
        }
        // the recorded command says it ran on two ranks
        let command = try String(contentsOf: results("two").appendingPathComponent("command.txt"), encoding: .utf8)
        #expect(command.hasPrefix("mpirun -np 2 autore run --config"), "\(command)")
        for split in ["dev_0-1", "test_0-2"] {
            let titles = { (folder: String) throws -> [String] in
                try String(contentsOf: results(folder).appendingPathComponent("predictions_\(split).jsonl"), encoding: .utf8)
                    .split(separator: "\n").map { line in
                        (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["title"] as! String
                    }
            }
            #expect(try titles("two") == titles("one") && !titles("one").isEmpty, "\(split): the documents of one process")
        }
        // the kept adapters (PEFT) agree up to float summation order
        func peft(_ folder: String) throws -> [String: FloatArray] {
            let p = root.appendingPathComponent("\(folder)/Experiments/runs/together/peft/adapter_model.safetensors").path
            let file = try SafetensorsFile(path: p)
            return Dictionary(uniqueKeysWithValues: try file.tensors.map { ($0.name, FloatArray(shape: $0.shape, values: try file.floats($0.name))) })
        }
        let d = try Self.relativeDifference(try peft("one"), try peft("two"))
        #expect(d <= 1e-5, "two ranks' adapter differs from one process's by \(d) (relative)")
    }

    /// `autore sweep` under `mpirun -np 2`: each rank runs experiments on its own and the run locks keep them
    /// apart, so each of the two experiments is trained once (by one process, not data parallel) and scored.
    /// Groups that do not divide the ranks are refused.
    @Test func sweepRanksShareTheExperiments() throws {
        let exe = try KillResumeTests.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let root = try Self.runRoot(fx, names: ["first", "second"])
        let sweep = root.appendingPathComponent("both.yaml")
        try "name: both\nconfigs: [first.yaml, second.yaml]\n".write(to: sweep, atomically: true, encoding: .utf8)
        let (status, said) = try fx.command(exe, ranks: 2, ["sweep", sweep.path, "--data-dir", fx.data.path, "--root", root.path])
        #expect(status == 0, "\(said)")
        #expect(!said.contains("data parallel"), "\(said)")
        for name in ["first", "second"] {
            let results = root.appendingPathComponent("Experiments/results/\(name)")
            #expect(FileManager.default.fileExists(atPath: results.appendingPathComponent("metrics_test_0-2.json").path), "\(name) not scored: \(said)")
            // trained once: four train records, each step once
            let log = try String(contentsOf: root.appendingPathComponent("Experiments/runs/\(name)/metrics.jsonl"), encoding: .utf8)
            #expect(log.split(separator: "\n").filter { $0.contains("\"kind\":\"train\"") }.count == 4, "\(name): \(log)")
            #expect(said.components(separatedBy: "\(name) · all: done").count - 1 == 1, "\(name) trained more than once: \(said)")
        }
        #expect(said.contains("[rank 0]") && said.contains("[rank 1]"), "\(said)")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("Experiments/results/README.md").path))
        let (bad, refused) = try fx.command(exe, ranks: 2, ["sweep", sweep.path, "--data-dir", fx.data.path, "--root", root.path, "--ranks-per-experiment", "3"])
        #expect(bad != 0 && refused.contains("does not divide the job's 2 ranks"), "\(refused)")
    }
}
