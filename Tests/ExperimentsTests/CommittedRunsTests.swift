// What the repository commits of its runs stays lean: no optimizer state (checkpoint.h5), no fully fine-tuned
// model, no file over 25 MB under Experiments/, and each finished adapter run keeps one adapter (its PEFT
// folder, else one HDF5 file). Read from `git ls-files` of this checkout.
import DocRE
import Foundation
import Testing

@Suite struct CommittedRunsTests {
    /// The tracked files under Experiments/ with their sizes; nil outside a git checkout.
    func tracked() throws -> [(path: String, bytes: Int)]? {
        let root = DataLocation.root
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", root.path, "ls-files", "-z", "Experiments"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).split(separator: "\0").map { path in
            let size = (try? FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(String(path)).path)[.size] as? Int) ?? 0
            return (String(path), size)
        }
    }

    @Test func runsCommitResultsAndOneAdapterNotTrainingState() throws {
        guard let files = try tracked() else {
            // a source archive without git history: nothing is committed to check
            #expect(!FileManager.default.fileExists(atPath: DataLocation.root.appendingPathComponent(".git").path))
            return
        }
        #expect(files.contains { $0.path.hasPrefix("Experiments/runs/") }, "no run folder is tracked: the check would pass vacuously")
        let paths = Set(files.map(\.path))
        for f in files {
            let name = (f.path as NSString).lastPathComponent, dir = (f.path as NSString).deletingLastPathComponent
            // optimizer state is committed only while a run resumes across sessions (added with -f), never once it has finished
            #expect(name != "checkpoint.h5" || !paths.contains(dir + "/summary.json"), "\(f.path): a finished run's optimizer state is committed")
            #expect(name != "model.safetensors", "\(f.path): a fully fine-tuned model is not committed")
            // an unfinished run's checkpoint (adapter and AdamW moments; 25.5 MiB for Gemma 3 r48 on q,v) may be larger
            let limit = name == "checkpoint.h5" ? 40 << 20 : 25 << 20
            #expect(f.bytes <= limit, "\(f.path): \(f.bytes) bytes; results and adapters only")
        }
        // every finished adapter run (a summary.json) keeps one adapter
        for summary in paths where summary.hasSuffix("/summary.json") && summary.hasPrefix("Experiments/runs/") {
            let dir = String(summary.dropLast("summary.json".count))
            let kept = ["peft/adapter_model.safetensors", "best.h5", "adapter.h5"].filter { paths.contains(dir + $0) }
            #expect(kept.count <= 1, "\(dir): keeps \(kept.joined(separator: ", ")); a finished run keeps one adapter")
        }
    }
}
