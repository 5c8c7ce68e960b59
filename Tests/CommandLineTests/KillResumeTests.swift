// `autore train` killed with SIGKILL at seeded random moments and resumed ends with exactly the checkpoint
// of an uninterrupted run, and the checkpoint on disk is at every moment absent or complete. Runs the
// `autore` executable that `swift test` builds beside the test bundle, on a tiny random model (safetensors and
// a byte-level tokenizer) and the two fixture documents, all written to a temporary directory.
import Autograd
import Foundation
import ModelFormats
import Support
import Testing
import TestSupport

@Suite(.serialized) struct KillResumeTests {
    /// The built `autore`: next to the test executable (Linux: .build/<config>/), or a few folders above it
    /// (macOS bundles). A missing executable fails the test; it is never skipped.
    static func autoreExecutable() throws -> URL {
        var starts = [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()]
        if let e = Bundle.main.executableURL { starts.append(e) }
        starts.append(URL(fileURLWithPath: CommandLine.arguments[0]))
        for start in starts {
            var dir = start.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("autore")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw Failure("no autore executable beside the test bundle (looked up from \(starts.map(\.path))); " +
                      "`swift test` builds it, or run `swift build` first")
    }

    struct Failure: Error, CustomStringConvertible { var description: String; init(_ d: String) { description = d } }

    /// A run folder's inputs: a tiny model directory, a Re-DocRED directory of the fixture documents, a config.
    struct Fixture {
        let root: URL
        var model: URL { root.appendingPathComponent("model") }
        var data: URL { root.appendingPathComponent("data") }
        var config: URL { root.appendingPathComponent("tiny.yaml") }
        let steps = 24

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("autore-kill-\(UUID().uuidString)")
            _ = try writeTinyRunInputs(root: root, seed: 11)
            // A checkpoint after every step; dropout on, so that generator states matter for an exact resume.
            let yaml = tinyRunConfig(name: "kill-resume", model: model,
                                     training: "{steps: \(steps), accumulation: 2, cutoff_length: 1024, max_questions_per_group: 3, checkpoint_every: 1, seed: 5}")
            try yaml.write(to: config, atomically: true, encoding: .utf8)
        }

        func runFolder(_ name: String) -> URL { root.appendingPathComponent(name) }

        /// `autore train` on this fixture into `folder`, started (not waited for).
        func start(_ exe: URL, folder: URL, resume: Bool) throws -> Process {
            let p = Process()
            p.executableURL = exe
            p.arguments = ["train", "--config", config.path, "--out", folder.path, "--data-dir", data.path] + (resume ? ["--resume"] : [])
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
    }

    /// Everything a checkpoint holds, with floats as bit patterns (so −0 ≠ +0 and NaN = NaN count as they should).
    static func contents(_ c: Checkpoint) -> [String: [UInt64]] {
        var out: [String: [UInt64]] = [:]
        for (k, a) in c.floats { out["f:" + k] = a.shape.map { UInt64($0) } + [UInt64.max] + a.values.map { UInt64($0.bitPattern) } }
        for (k, v) in c.integers { out["i:" + k] = [UInt64(bitPattern: v)] }
        for (k, v) in c.words { out["w:" + k] = v }
        for (k, v) in c.strings { out["s:" + k] = v.utf8.map { UInt64($0) } }
        return out
    }

    /// The checkpoint in `folder` must be absent or complete, never anything in between; returns its step.
    static func checkCheckpoint(_ folder: URL, _ context: String) throws -> Int? {
        let path = folder.appendingPathComponent("checkpoint.h5").path
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let c = try Checkpoint(contentsOf: path)
            guard let step = c.integers["step"] else { throw Failure("\(context): \(path) has no step") }
            return Int(step)
        } catch {
            throw Failure("\(context): \(path) is not a complete checkpoint: \(error)")
        }
    }

    @Test func killedAndResumedRunEqualsUninterruptedRun() throws {
        let exe = try Self.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }

        let straightFolder = fx.runFolder("straight")
        let t0 = Date()
        let straight = try fx.start(exe, folder: straightFolder, resume: false)
        straight.waitUntilExit()
        let duration = Date().timeIntervalSince(t0)
        try #require(straight.terminationStatus == 0, "the uninterrupted run failed (status \(straight.terminationStatus))")
        let want = try Checkpoint(contentsOf: straightFolder.appendingPathComponent("checkpoint.h5").path)
        try #require(want.integers["step"] == Int64(fx.steps))

        // Three runs, each killed twice at seeded random moments within the length of a whole run (so some
        // kills land in start-up, some mid-training, some after the end; the first at once), then resumed to the end.
        var g = SplitMix64(seed: 2024)
        var kills = 0, killedMidRun = 0, stepsAtKills: [String] = []
        for trial in 0..<3 {
            let folder = fx.runFolder("killed-\(trial)")
            var lastStep = -1
            for attempt in 0..<2 {
                let resume = FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint.h5").path)
                let p = try fx.start(exe, folder: folder, resume: resume)
                var delay = g.nextDouble() * duration
                if trial == 0 && attempt == 0 { delay = 0 }   // one kill before the run can have made its folder
                // Poll the checkpoint while the run writes it: a reader must never see a partial file.
                let deadline = Date().addingTimeInterval(delay)
                while Date() < deadline && p.isRunning {
                    if let s = try Self.checkCheckpoint(folder, "trial \(trial) attempt \(attempt), while running") {
                        #expect(s >= lastStep, "the checkpoint went back from step \(lastStep) to \(s)")
                        lastStep = max(lastStep, s)
                    }
                    usleep(2_000)
                }
                if p.isRunning {
                    kill(p.processIdentifier, SIGKILL)
                    killedMidRun += 1
                }
                p.waitUntilExit()
                kills += 1
                let step = try Self.checkCheckpoint(folder, "trial \(trial) attempt \(attempt), after SIGKILL at \(String(format: "%.3f", delay)) s")
                if let step { #expect(step >= lastStep); lastStep = step }
                stepsAtKills.append(step.map(String.init) ?? "none")
                // Temporary files a killed save leaves are hidden names, never the checkpoint itself. A kill
                // before the run made its folder leaves no folder: a valid state to start (or resume) from.
                let names = FileManager.default.fileExists(atPath: folder.path) ? try FileManager.default.contentsOfDirectory(atPath: folder.path) : []
                for n in names where n.contains("checkpoint") && n != "checkpoint.h5" {
                    #expect(n.hasPrefix(".checkpoint.h5.") && n.hasSuffix(".tmp"), "unexpected file \(n)")
                }
            }
            // Resume (or start, when no checkpoint was ever written) and run to the end.
            let resume = FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint.h5").path)
            let p = try fx.start(exe, folder: folder, resume: resume)
            p.waitUntilExit()
            try #require(p.terminationStatus == 0, "trial \(trial): the resumed run failed (status \(p.terminationStatus))")
            let got = Self.contents(try Checkpoint(contentsOf: folder.appendingPathComponent("checkpoint.h5").path))
            let expected = Self.contents(want)
            let differing = Set(got.keys).union(expected.keys).filter { got[$0] != expected[$0] }.sorted()
            #expect(differing.isEmpty, "trial \(trial): the resumed run's checkpoint differs from the uninterrupted run's in \(differing.count) entries: \(differing.prefix(4))")
        }
        print("kill-and-resume: uninterrupted run \(String(format: "%.2f", duration)) s; \(killedMidRun) of \(kills) kills hit a running process; " +
              "checkpoint step on disk after each kill: \(stepsAtKills.joined(separator: ", ")) of \(fx.steps)")
        // Not vacuous: training moved the adapter away from its initial B = 0.
        #expect(want.floats.contains { $0.key.hasPrefix("adapter/") && $0.key.contains("lora_B") && $0.value.values.contains { $0 != 0 } })
    }

    /// Ctrl-C (SIGINT) mid-run: the process stops after the step in progress, checkpointed, and exits with
    /// status 0 saying so; resumed, it ends with exactly the uninterrupted run's checkpoint. (Before stop
    /// signals were handled, SIGINT ended the process by the signal, without a checkpoint of its last steps.)
    @Test func ctrlCStopsAfterTheStepAndResumes() throws {
        let exe = try Self.autoreExecutable()
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let straightFolder = fx.runFolder("straight")
        let straight = try fx.start(exe, folder: straightFolder, resume: false)
        straight.waitUntilExit()
        try #require(straight.terminationStatus == 0)
        let want = Self.contents(try Checkpoint(contentsOf: straightFolder.appendingPathComponent("checkpoint.h5").path))

        let folder = fx.runFolder("interrupted")
        let log = fx.root.appendingPathComponent("interrupted.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let out = try FileHandle(forWritingTo: log)
        let p = Process()
        p.executableURL = exe
        p.arguments = ["train", "--config", fx.config.path, "--out", folder.path, "--data-dir", fx.data.path]
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Signal once the run has checkpointed its second step (its handler is in place by then).
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning, Date() < deadline, (try Self.checkCheckpoint(folder, "before SIGINT") ?? 0) < 2 { usleep(1_000) }
        try #require(p.isRunning, "the run ended before it could be interrupted")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        try out.close()
        let said = try String(contentsOf: log, encoding: .utf8)
        #expect(p.terminationReason == .exit && p.terminationStatus == 0,
                "SIGINT: reason \(p.terminationReason == .exit ? "exit" : "signal") \(p.terminationStatus)")
        let stoppedAt = try Self.checkCheckpoint(folder, "after SIGINT")
        #expect(stoppedAt.map { $0 >= 2 && $0 < fx.steps } == true, "checkpoint step after SIGINT: \(stoppedAt.map(String.init) ?? "none")")
        #expect(said.contains("stopped on request: training"), "\(said.suffix(300))")

        let resumed = try fx.start(exe, folder: folder, resume: true)
        resumed.waitUntilExit()
        try #require(resumed.terminationStatus == 0)
        let got = Self.contents(try Checkpoint(contentsOf: folder.appendingPathComponent("checkpoint.h5").path))
        let differing = Set(got.keys).union(want.keys).filter { got[$0] != want[$0] }.sorted()
        #expect(differing.isEmpty, "the resumed run's checkpoint differs from the uninterrupted run's in \(differing.count) entries: \(differing.prefix(4))")
    }

    /// `--set` through the command line: the run trains the changed config under the derived name and
    /// records it; a misspelt key is one error naming it, and nothing is written.
    @Test func settingsChangedOnTheCommandLine() throws {
        let exe = try Self.autoreExecutable()
        let f = try Fixture()
        defer { try? FileManager.default.removeItem(at: f.root) }
        func train(_ folder: URL, _ sets: [String]) throws -> (status: Int32, errors: String) {
            let p = Process(), err = Pipe()
            p.executableURL = exe
            p.arguments = ["train", "--config", f.config.path, "--out", folder.path, "--data-dir", f.data.path] + sets.flatMap { ["--set", $0] }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let good = f.runFolder("set")
        let ok = try train(good, ["training.steps=2", "lora.rank=2"])
        #expect(ok.status == 0, "\(ok.errors)")
        let stored = try String(contentsOf: good.appendingPathComponent("config.yaml"), encoding: .utf8)
        #expect(stored.contains("--set training.steps=2 --set lora.rank=2") && stored.contains("name: kill-resume-training.steps=2-lora.rank=2"))
        let summary = try String(contentsOf: good.appendingPathComponent("summary.json"), encoding: .utf8)
        #expect(summary.contains("\"steps\" : 2"), "\(summary.prefix(300))")
        #expect(FileManager.default.fileExists(atPath: good.appendingPathComponent("peft/adapter_config.json").path))
        let a = try Checkpoint(contentsOf: good.appendingPathComponent("checkpoint.h5").path).floats.filter { $0.key.hasPrefix("adapter/") && $0.key.contains("lora_A") }
        #expect(!a.isEmpty && a.values.allSatisfy { $0.shape.first == 2 }, "\(a.mapValues(\.shape))")   // rank 2, not the file's 4

        let bad = f.runFolder("misspelt")
        let refused = try train(bad, ["lora.rnak=2"])
        #expect(refused.status != 0 && refused.errors.contains("unknown key 'lora.rnak'") && refused.errors.contains("tiny.yaml"))
        #expect(!FileManager.default.fileExists(atPath: bad.path))
    }
}

