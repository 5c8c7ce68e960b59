// An interrupted extraction resumes only under the decoding that wrote its predictions: the record beside
// the file is written when it has no document yet, the same settings resume, other settings or other
// adapter steps are refused naming the file, and a file from before records existed resumes as it is.
import Foundation
import Testing
import Experiments
import RHF

@Suite struct ExtractionRecordTests {
    func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("extraction-record-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func theRecordSitsBesideThePredictionsOfItsSplit() {
        let results = ResultsDirectory(URL(fileURLWithPath: "/r/x"))
        #expect(results.predictions("select[0:20]") == "/r/x/predictions_select_0-20.jsonl")
        #expect(results.extractionRecord("select[0:20]") == "/r/x/extraction_select_0-20.json")
    }

    @Test func otherSettingsOrAdaptersCannotResumeAFileWithDocuments() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = ResultsDirectory(dir)
        let predictions = results.predictions("select")
        var settings = ExtractionSettings()
        settings.endBias = PerStage(relations: 0, heads: -4, facts: -4)
        let first = ExtractionRecord(extraction: settings, adapterSteps: ["all": 2054])
        // no file yet: the record is written
        try first.claim(split: "select", in: results)
        let recordPath = results.extractionRecord("select")
        #expect(FileManager.default.fileExists(atPath: recordPath))
        // one document written, then the same decoding resumes
        try "{\"title\":\"a\"}\n".write(toFile: predictions, atomically: true, encoding: .utf8)
        try first.claim(split: "select", in: results)
        // another batch size changes nothing the file holds
        var wider = settings
        wider.batchDocuments = 40
        try ExtractionRecord(extraction: wider, adapterSteps: ["all": 2054]).claim(split: "select", in: results)
        // another end-of-answer bias is refused, naming the file
        var other = settings
        other.endBias = PerStage(relations: 0, heads: -2, facts: -2)
        do {
            try ExtractionRecord(extraction: other, adapterSteps: ["all": 2054]).claim(split: "select", in: results)
            Issue.record("a resume under another end-of-answer bias was accepted")
        } catch {
            #expect("\(error)".contains(predictions) && "\(error)".contains("extraction settings"))
        }
        // so is the same decoding of another adapter
        do {
            try ExtractionRecord(extraction: settings, adapterSteps: ["all": 1500]).claim(split: "select", in: results)
            Issue.record("a resume with another adapter was accepted")
        } catch {
            #expect("\(error)".contains("adapters"))
        }
        // the refusals left the record as it was
        let kept = try ResultsJSON.decode(ExtractionRecord.self, from: Data(contentsOf: URL(fileURLWithPath: recordPath)))
        #expect(kept == first)
        // emptied, the file takes the new decoding and its record
        try "".write(toFile: predictions, atomically: true, encoding: .utf8)
        try ExtractionRecord(extraction: other, adapterSteps: ["all": 2054]).claim(split: "select", in: results)
        #expect(try ResultsJSON.decode(ExtractionRecord.self, from: Data(contentsOf: URL(fileURLWithPath: recordPath)))
                == ExtractionRecord(extraction: other, adapterSteps: ["all": 2054]))
    }

    @Test func aFileWrittenBeforeRecordsResumesAsItIs() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = ResultsDirectory(dir)
        try "{\"title\":\"a\"}\n".write(toFile: results.predictions("test"), atomically: true, encoding: .utf8)
        try ExtractionRecord(extraction: ExtractionSettings(), adapterSteps: [:]).claim(split: "test", in: results)
        #expect(!FileManager.default.fileExists(atPath: results.extractionRecord("test")))
    }
}
