// Long jobs that stop at a safe point and continue when run again: the stop condition they check, the
// error that says where they stopped, and extraction appended to a predictions file batch by batch.
// Not the scoring of what was extracted (Experiments' results) and not training (Experiments' TrainJob).
import DocRE
import Distributed
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
    ///
    /// With a `communicator` of several ranks (`mpirun -np N autore extract …`), the documents are shared:
    /// each round, rank k extracts the k-th of the next N batches of `options.batchDocuments` documents, and
    /// rank 0 gathers their lines and appends them in document order. The batches are the ones one process
    /// would extract, so the file is the same. Rank 0 alone reads and writes `path` and decides when to stop;
    /// the other ranks return no predictions.
    public func extract(_ docs: [Document], resumingAt path: String, label: String, stop: StopCondition = .never,
                        communicator: Communicator = SingleProcess()) throws -> [PredictionRecord] {
        if communicator.size > 1 { return try extractSharded(docs, resumingAt: path, label: label, stop: stop, communicator: communicator) }
        var done = try Self.resumable(docs, at: path)
        // whole lines, one write(2) per batch: a write stopped short (a full disk) is cut back, never left torn
        let file = try LineFile(path: path)
        defer { file.close() }
        guard done.count < docs.count else { return done }
        let enc = Self.lineEncoder
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

    static var lineEncoder: JSONEncoder {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return enc
    }

    /// The predictions already in `path` for the first of `docs` (matched by position and title), the file
    /// rewritten without a torn last line (a killed writer's); none when it does not exist.
    static func resumable(_ docs: [Document], at path: String) throws -> [PredictionRecord] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        // a torn last line (a killed writer) is dropped; anything else must be ours
        let done = JSONLines.decodePrefix(PredictionRecord.self, from: FileManager.default.contents(atPath: path) ?? Data())
        if done.count > docs.count || zip(done, docs).contains(where: { $0.title != $1.title }) {
            throw AutoREError("\(path) holds predictions of other documents; remove it to extract afresh")
        }
        // rewrite without a torn tail
        try PredictionRecord.write(done, to: URL(fileURLWithPath: path))
        return done
    }

    /// What a rank sends rank 0 after a round: its batch's lines (as one process would write them), what
    /// extracting them cost, or why it failed.
    struct ShardBatch: Codable {
        var lines = Data()
        var statistics = ExtractionStatistics()
        var error: String?
    }

    /// What rank 0 tells every rank before the first round (the documents already done, or why it cannot
    /// go on) and after each round (whether to stop).
    struct ShardSignal: Codable {
        var done = 0
        var stop = false
        var error: String?
    }

    func extractSharded(_ docs: [Document], resumingAt path: String, label: String, stop: StopCondition,
                        communicator comm: Communicator) throws -> [PredictionRecord] {
        func share(_ signal: ShardSignal?) throws -> ShardSignal { try comm.broadcast(comm.isLead ? signal ?? ShardSignal() : nil) }
        // Rank 0 reads what is done and opens the file; every rank learns how far it got, or why it failed.
        var done: [PredictionRecord] = [], file: LineFile?, opening: String?
        if comm.isLead {
            do { done = try Self.resumable(docs, at: path); file = try LineFile(path: path) } catch { opening = "\(error)" }
        }
        defer { file?.close() }
        let start = try share(ShardSignal(done: done.count, error: opening))
        if let e = start.error { throw AutoREError(comm.isLead ? e : "rank 0 could not open \(path): \(e)") }
        let enc = Self.lineEncoder, b = max(1, options.batchDocuments)
        var progress = comm.isLead ? ProgressLine(label: label, total: docs.count, alreadyDone: start.done) : nil
        let began = Date()
        var position = start.done
        while position < docs.count {
            // This round: rank k takes the k-th of the next `ranks` batches (nothing past the end).
            let mine = position + comm.rank * b
            var sent = ShardBatch()
            if mine < docs.count {
                let before = statistics
                do {
                    let batch = try extract(Array(docs[mine..<min(docs.count, mine + b)]))
                    sent.lines = try JSONLines.encode(batch, with: enc)
                } catch { sent.error = "rank \(comm.rank): \(error)" }
                sent.statistics = statistics.minus(before)
            }
            let gathered = try comm.gather(try JSONEncoder().encode(sent).map { $0 }, root: 0)
            var signal = ShardSignal()
            if comm.isLead, let gathered {
                let batches = try gathered.map { try JSONDecoder().decode(ShardBatch.self, from: Data($0)) }
                // Lines in rank order are lines in document order; a failed rank's batch and those after it wait.
                for batch in batches {
                    if let e = batch.error { signal.error = e; break }
                    guard !batch.lines.isEmpty else { continue }
                    do { try file!.append(batch.lines) } catch { signal.error = "\(error)"; break }
                    done += JSONLines.decodePrefix(PredictionRecord.self, from: batch.lines)
                }
                for (k, batch) in batches.enumerated() where k > 0 { statistics.add(batch.statistics) }
                // Documents per minute of the job: wall time, not the ranks' summed time.
                statistics.seconds = Date().timeIntervalSince(began)
                progress?.update(done: done.count, fields: ["docs/min": String(format: "%.1f", statistics.documentsPerMinute),
                                                            "tok/s": String(format: "%.0f", statistics.tokensPerSecond)])
                signal.done = done.count
                signal.stop = signal.error == nil && done.count < docs.count && stop.now()
            }
            let told = try share(signal)
            if let e = told.error { throw AutoREError(e) }
            position = told.done
            if told.stop {
                progress?.update(done: done.count, final: true)
                throw RunStopped(what: label, step: told.done, of: docs.count)
            }
        }
        return comm.isLead ? done : []
    }
}
