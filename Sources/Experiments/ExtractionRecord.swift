// Which decoding wrote a results folder's predictions file: an interrupted extraction resumes by keeping
// the documents already in the file, so the settings that wrote them are recorded beside it, and a resume
// under other settings is refused instead of mixing two decodings in one file.
import Foundation
import RHF
import Support

/// `extraction_<split>.json` beside `predictions_<split>.jsonl`: the extraction settings and the adapters'
/// steps the predictions were written with.
public struct ExtractionRecord: Codable, Equatable {
    public var extraction: ExtractionSettings
    public var adapterSteps: [String: Int]

    /// `extraction.batchDocuments` is left out (recorded as 0): it changes which answers are computed
    /// together, not what they are (Docs/performance.md: batches of 10, 20 and 40 wrote the same file).
    public init(extraction: ExtractionSettings, adapterSteps: [String: Int]) {
        var e = extraction
        e.batchDocuments = 0
        self.extraction = e; self.adapterSteps = adapterSteps
    }

    /// Before extracting `split` into `results`: a predictions file with no document yet gets this record
    /// beside it; one that has documents may be resumed only under the record it was written with (a file
    /// without a record, written before records existed, is resumed as it is).
    public func claim(split: String, in results: ResultsDirectory) throws {
        let predictions = results.predictions(split), recordPath = results.extractionRecord(split)
        let started = FileHandle(forReadingAtPath: predictions).map { h in defer { try? h.close() }; return !h.readData(ofLength: 1).isEmpty } ?? false
        guard started else {
            try AtomicFile.write(try ResultsJSON.encode(self), to: recordPath)
            return
        }
        guard let data = FileManager.default.contents(atPath: recordPath) else { return }
        let earlier: ExtractionRecord
        do { earlier = try ResultsJSON.decode(ExtractionRecord.self, from: data) } catch {
            throw AutoREError("\(recordPath): unreadable (\(error)); it records how \(predictions) was extracted; delete both to extract again")
        }
        guard earlier == self else {
            let what = earlier.extraction != extraction ? "extraction settings" : "adapters (steps \(earlier.adapterSteps) against \(adapterSteps))"
            throw AutoREError("\(predictions): its documents were extracted with other \(what) (\(recordPath)); resuming would mix two decodings in one file. Delete both files to extract again with the current settings, or restore the earlier ones")
        }
    }
}
