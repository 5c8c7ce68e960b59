// Progress lines with rate and ETA for long jobs, and an append-only JSONL metrics log that survives
// a killed run or a full disk (one whole, synced line per record). Not a plotting tool.
import Foundation
import Support

/// A one-line progress display on standard error: `label 12/400 [3%] loss 1.23 · 312 tok/s · ETA 12:31`.
///
///     var p = ProgressLine(label: "train", total: 400)
///     p.update(done: step, fields: ["loss": "1.23"], rate: (tokens, "tok/s"))
public struct ProgressLine {
    public let label: String
    public let total: Int
    let start = Date()
    let startDone: Int
    let isTerminal = isatty(2) != 0
    var lastPrint = Date.distantPast

    public init(label: String, total: Int, alreadyDone: Int = 0) {
        self.label = label; self.total = total; startDone = alreadyDone
    }

    /// Seconds left at the rate seen since this line started.
    public func eta(done: Int) -> Double? {
        let elapsed = Date().timeIntervalSince(start), did = done - startDone
        guard did > 0, elapsed > 0 else { return nil }
        return elapsed / Double(did) * Double(max(0, total - done))
    }

    /// `m:ss` under an hour, else `h:mm:ss`; `–` if not finite.
    public static func clock(_ seconds: Double) -> String { clock(seconds, hours: false) }

    /// With `hours`, always `h:mm:ss` (the columns of a table).
    public static func clock(_ seconds: Double, hours: Bool) -> String {
        guard seconds.isFinite else { return "–" }
        let s = Int(seconds.rounded())
        return s >= 3600 || hours ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    /// Prints the line (in place on a terminal; at most every 10 s as new lines otherwise, and at the end).
    public mutating func update(done: Int, fields: KeyValuePairs<String, String> = [:], final: Bool = false) {
        let now = Date()
        guard final || done >= total || isTerminal || now.timeIntervalSince(lastPrint) >= 10 else { return }
        lastPrint = now
        var s = "\(label) \(done)/\(total) [\(total > 0 ? 100 * done / total : 100)%]"
        for (k, v) in fields { s += " · \(k) \(v)" }
        if let e = eta(done: done), done < total { s += " · ETA \(Self.clock(e))" }
        s += " · \(Self.clock(now.timeIntervalSince(start)))"
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + s + (isTerminal && !final && done < total ? "" : "\n")).utf8))
    }
}

/// Appends one JSON object per line to a file, each line one write(2) and synced (`Support.LineFile`):
/// a full disk or a killed run never leaves a partial last line behind (opening drops a torn one).
public final class MetricsLog {
    public let path: String
    let file: LineFile
    let encoder: JSONEncoder

    public init(path: String) throws {
        self.path = path
        file = try LineFile(path: path)
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    public func append<T: Encodable>(_ record: T) throws {
        var line = try encoder.encode(record)
        line.append(0x0A)
        try file.append(line)
    }

    /// Keeps the records of the log at `path` up to step `step` and drops the rest (what a run resumed from
    /// its checkpoint at `step` will write again), and a torn last line. Rewrites the file atomically;
    /// no file, nothing to do.
    public static func keepRecords(in path: String, throughStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        struct Step: Decodable { var step: Int }
        let dec = JSONDecoder()
        var kept = Data()
        for line in data.split(separator: 0x0A) {
            guard let r = try? dec.decode(Step.self, from: Data(line)), r.step <= step else { continue }
            kept.append(contentsOf: line); kept.append(0x0A)
        }
        guard kept.count != data.count else { return }
        try AtomicFile.write(kept, to: path)
    }

    /// The records of a log, each decoded as `T` (non-finite numbers as `append` writes them: "nan", "inf",
    /// "-inf"); a torn last line (a killed writer) is skipped.
    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws -> [T] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return JSONLines.decodeValid(T.self, from: data, decoder: dec)
    }
}
