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
            try """
                name: data-parallel
                base_model: \(model.path)
                quantization: nf4
                paradigm: D_R_H_F
                stage: all
                chat_template: none
                lora: {rank: 4, alpha: 8, dropout: 0.1, targets: [q_proj, v_proj]}
                optimizer: {learning_rate: 1.0e-2, schedule: cosine, warmup_steps: 2}
                training: {steps: 10, accumulation: 4, cutoff_length: 1024, max_questions_per_group: 3, checkpoint_every: 5, seed: 5}
                data: {train: dev, select: "dev[0:1]"}
                evaluation: {every: 1000, loss_groups: 1}
                """.write(to: config, atomically: true, encoding: .utf8)
        }

        func train(_ exe: URL, ranks: Int?, out: String, extra: [String] = []) throws -> (Int32, String) {
            let p = Process(), err = Pipe()
            let args = ["train", "--config", config.path, "--out", root.appendingPathComponent(out).path, "--data-dir", data.path] + extra
            if let ranks {
                p.executableURL = URL(fileURLWithPath: try DataParallelTests.mpirun())
                p.arguments = ["-np", "\(ranks)", "--oversubscribe", exe.path] + args
            } else {
                p.executableURL = exe
                p.arguments = args
            }
            var env = ProcessInfo.processInfo.environment
            env["AUTORE_THREADS"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
            env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"   // containers forbid the cross-memory attach
            p.environment = env
            p.standardOutput = err   // what it says and its errors, together
            p.standardError = err
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
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
}
