// A full disk (a file-size limit: RLIMIT_FSIZE, write(2) fails with EFBIG) while `autore` writes a checkpoint or
// a predictions file: the previous file stays byte for byte, no temporary file is left, and standard error
// has one error naming the file and the reason. Runs the built `autore` on the tiny model of KillResumeTests.
import Foundation
import ModelFormats
import Testing

@Suite(.serialized) struct FullDiskTests {
    typealias Fixture = KillResumeTests.Fixture

    /// Names in `folder` that look like a file of `name` left behind (a temporary copy).
    func leftovers(_ folder: URL, of name: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(name) && $0 != name }
    }

    @Test func aCheckpointThatDoesNotFitLeavesThePreviousOne() throws {
        let child = Child(exe: try KillResumeTests.autoreExecutable())
        let fx = try Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        let folder = fx.runFolder("full")
        let train = ["train", "--config", fx.config.path, "--out", folder.path, "--data-dir", fx.data.path]
        // A checkpoint of step 2 (a run of two steps, whose summary is removed so that it can be continued:
        // `--steps` is not part of the config a resumed run must match).
        let first = try child.run(train + ["--steps", "2"])
        try #require(first.status == 0, "\(first.errors)")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("summary.json"))
        let path = folder.appendingPathComponent("checkpoint.h5").path
        let before = try #require(FileManager.default.contents(atPath: path))
        try #require(try Checkpoint(contentsOf: path).integers["step"] == 2)
        // Continued with files limited to half the checkpoint's size: the checkpoint of step 3 cannot be written.
        let limit = before.count / 2 / 1024
        try #require(limit >= 2, "the checkpoint (\(before.count) bytes) is too small for the test")
        let full = try child.run(train + ["--resume", "--steps", "4"], fileSizeLimitKB: limit)
        #expect(full.status != 0, "the run went on without its checkpoint")
        #expect(FileManager.default.contents(atPath: path) == before, "the previous checkpoint changed")
        #expect(try leftovers(folder, of: "checkpoint.h5").isEmpty)
        let errors = full.errors.errorLines
        #expect(errors.count == 1, "\(full.errors)")
        #expect(errors.first.map { $0.contains(path) && $0.contains(String(cString: strerror(EFBIG))) } == true, "\(full.errors)")
        // Room again: the run resumes from that checkpoint and finishes.
        let done = try child.run(train + ["--resume", "--steps", "4"])
        #expect(done.status == 0, "\(done.errors)")
        #expect(try Checkpoint(contentsOf: path).integers["step"] == 4)
    }

    @Test func predictionsThatDoNotFitKeepTheirWholeLines() throws {
        let child = Child(exe: try KillResumeTests.autoreExecutable())
        let fx = try ExtractFixture()
        defer { try? FileManager.default.removeItem(at: fx.base.root) }
        let reference = try fx.reference(child).predictions
        let ends = reference.indices.filter { reference[$0] == 0x0A }.map { $0 + 1 }
        // A limit inside a line past the first: the write that crosses it fails part-way.
        var limit = max(1, ends[ends.count / 2] / 1024)
        while ends.contains(limit * 1024) { limit += 1 }
        try #require(limit * 1024 > ends[0] && limit * 1024 < reference.count,
                     "the predictions (\(reference.count) bytes, lines ending at \(ends)) do not straddle \(limit) KB")
        let out = fx.base.root.appendingPathComponent("limited.jsonl")
        let full = try child.run(fx.extract(out), fileSizeLimitKB: limit)
        #expect(full.status != 0)
        let got = try #require(FileManager.default.contents(atPath: out.path))
        // what was written before the failing batch stays: whole lines, those of the uninterrupted run
        #expect(got.count <= limit * 1024 && ends.contains(got.count), "\(got.count) bytes: not whole lines (lines end at \(ends))")
        #expect(got == reference.prefix(got.count))
        let errors = full.errors.errorLines
        #expect(errors.count == 1 && errors[0].contains(out.path) && errors[0].contains(String(cString: strerror(EFBIG))), "\(full.errors)")
        // rerun without the limit: resumes to the same file as the uninterrupted run
        let resumed = try child.run(fx.extract(out))
        #expect(resumed.status == 0, "\(resumed.errors)")
        #expect(FileManager.default.contents(atPath: out.path) == reference)
    }
}

/// Documents and a trained tiny adapter to extract with: `autore extract --input docs.jsonl --out P.jsonl`.
struct ExtractFixture {
    let base: KillResumeTests.Fixture
    var run: URL { base.runFolder("adapter") }
    var input: URL { base.root.appendingPathComponent("docs.jsonl") }
    static let documents = 16

    init() throws {
        base = try KillResumeTests.Fixture()
        var lines = ""
        for i in 0..<Self.documents {
            lines += #"{"title": "document \#(i)", "text": "Marie Curie \#(i) was born in Warsaw and worked in Paris with Pierre Curie."}"# + "\n"
        }
        try lines.write(to: input, atomically: true, encoding: .utf8)
    }

    /// `autore extract` of the documents into `out`, one document per batch (so that where a resumed run
    /// starts does not change how documents are batched).
    func extract(_ out: URL) -> [String] {
        ["extract", "--run", run.path, "--input", input.path, "--out", out.path, "--batch-documents", "1",
         "--max-new-tokens", "24", "--data-dir", base.data.path]
    }

    /// Trains the adapter (two steps) and extracts without interruption: the predictions every other run must
    /// equal, and the seconds the extraction took.
    func reference(_ child: Child) throws -> (predictions: Data, seconds: Double) {
        let trained = try child.run(["train", "--config", base.config.path, "--out", run.path, "--data-dir", base.data.path, "--steps", "2"])
        try #require(trained.status == 0, "\(trained.errors)")
        let out = base.root.appendingPathComponent("reference.jsonl")
        let start = Date()
        let r = try child.run(extract(out))
        let seconds = Date().timeIntervalSince(start)
        try #require(r.status == 0, "\(r.errors)")
        let data = try #require(FileManager.default.contents(atPath: out.path))
        try #require(data.split(separator: 0x0A).count == Self.documents && data.last == 0x0A)
        return (data, seconds)
    }
}
