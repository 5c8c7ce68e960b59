// Long jobs that stop at a safe point and continue when run again: the stop condition they check, the
// error that says where they stopped, and extraction appended to a predictions file batch by batch.
// Not the scoring of what was extracted (Experiments' results) and not training (Experiments' TrainJob).
import DocRE
import FineTuning
import Foundation
import Support

/// When a long job should stop early (at its next safe point): a deadline, or any test.
public struct StopCondition {
    public var now: () -> Bool
    /// Also stop once the adapter being trained has taken this many optimizer steps (checkpointed there).
    public var step: Int?
    public init(step: Int? = nil, _ now: @escaping () -> Bool) { self.now = now; self.step = step }
    public static let never = StopCondition { false }
    /// Stops once `seconds` have passed from now.
    public static func after(seconds: Double) -> StopCondition {
        let deadline = Date().addingTimeInterval(seconds)
        return StopCondition { Date() >= deadline }
    }
}

/// A job stopped by its `StopCondition` after saving where it was; rerunning continues.
public struct RunStopped: Error, CustomStringConvertible {
    public var what: String
    public var step: Int
    public var of: Int
    public init(what: String, step: Int, of: Int) { self.what = what; self.step = step; self.of = of }
    public var description: String { "\(what) stopped at \(step) of \(of) after checkpointing; rerun the same command to continue" }
}

extension Extractor {
    /// Predictions for `docs`, appended to `path` batch by batch (one JSON line per document) so that a
    /// killed extraction resumes: documents already in the file (matched by position and title) are kept.
    public func extract(_ docs: [Document], resumingAt path: String, label: String, stop: StopCondition = .never) throws -> [PredictionRecord] {
        var done: [PredictionRecord] = []
        if FileManager.default.fileExists(atPath: path) {
            // a torn last line (a killed writer) is dropped; anything else must be ours
            done = JSONLines.decodePrefix(PredictionRecord.self, from: FileManager.default.contents(atPath: path) ?? Data())
            if done.count > docs.count || zip(done, docs).contains(where: { $0.title != $1.title }) {
                throw AutoREError("\(path) holds predictions of other documents; remove it to extract afresh")
            }
            // rewrite without a torn tail
            try PredictionRecord.write(done, to: URL(fileURLWithPath: path))
        }
        // whole lines, one write(2) per batch: a write stopped short (a full disk) is cut back, never left torn
        let file = try LineFile(path: path)
        defer { file.close() }
        guard done.count < docs.count else { return done }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var progress = ProgressLine(label: label, total: docs.count, alreadyDone: done.count)
        let rest = Array(docs[done.count...])
        for start in stride(from: 0, to: rest.count, by: max(1, options.batchDocuments)) {
            let batch = try extract(Array(rest[start..<min(rest.count, start + options.batchDocuments)]))
            try file.append(try JSONLines.encode(batch, with: enc))
            done += batch
            progress.update(done: done.count, fields: ["docs/min": String(format: "%.1f", statistics.documentsPerMinute),
                                                       "tok/s": String(format: "%.0f", statistics.tokensPerSecond)])
            if done.count < docs.count, stop.now() {
                progress.update(done: done.count, final: true)
                throw RunStopped(what: label, step: done.count, of: docs.count)
            }
        }
        return done
    }
}
