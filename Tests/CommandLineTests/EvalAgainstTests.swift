// `autore eval --against`: two systems' predictions of the same documents compared by a paired bootstrap
// over documents. Checked on cases whose answer is known by hand: gold against nothing (the whole F1, no
// resample where gold does not win), a file against itself (no difference, p = 1), and a file missing a
// document (refused, naming it: a missing document would count as one where nothing was found).
import Foundation
import Testing

@Suite struct EvalAgainstTests {
    @Test func goldBeatsNothingByItsWholeF1AndNothingBeatsItself() throws {
        let child = Child(exe: try KillResumeTests.autoreExecutable())
        let fx = try KillResumeTests.Fixture()
        defer { try? FileManager.default.removeItem(at: fx.root) }
        // six labelled documents (the fixture's labelled one under six titles), so that every resample has gold facts
        let data = fx.root.appendingPathComponent("six")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: fx.data.appendingPathComponent("dev_revised.json"))) as! [[String: Any]]
        let labelled = try #require(fixture.first { ($0["labels"] as? [Any])?.isEmpty == false })
        let six = (0..<6).map { i -> [String: Any] in var d = labelled; d["title"] = "\(d["title"]!) \(i)"; return d }
        try JSONSerialization.data(withJSONObject: six).write(to: data.appendingPathComponent("dev_revised.json"))

        let gold = fx.root.appendingPathComponent("gold.jsonl"), empty = fx.root.appendingPathComponent("empty.jsonl")
        let fewer = fx.root.appendingPathComponent("fewer.jsonl")
        let made = try child.output(["eval", "--split", "dev", "--data-dir", data.path, "--oracle", "--write-predictions", gold.path])
        #expect(made.status == 0, "\(made.errors)")
        // the same documents with no triple, and all but the last document
        let lines = try String(contentsOf: gold, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6)
        let emptied = try lines.map { line -> String in
            var r = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            r["triples"] = [[String]]()
            return String(decoding: try JSONSerialization.data(withJSONObject: r), as: UTF8.self)
        }
        try (emptied.joined(separator: "\n") + "\n").write(to: empty, atomically: true, encoding: .utf8)
        try (lines.dropLast().joined(separator: "\n") + "\n").write(to: fewer, atomically: true, encoding: .utf8)

        func compare(_ a: URL, _ b: URL) throws -> (status: Int32, output: String, errors: String) {
            try child.output(["eval", "--split", "dev", "--data-dir", data.path, "--metric", "autore", "--predictions", a.path, "--against", b.path])
        }
        let won = try compare(gold, empty)
        #expect(won.status == 0, "\(won.errors)")
        #expect(won.output.contains("AutoRE F1 100.00 vs 0.00, difference +100.00, 95% interval [+100.00, +100.00], p 0.0000"), "\(won.output)")
        let same = try compare(empty, empty)
        #expect(same.output.contains("difference +0.00, 95% interval [+0.00, +0.00], p 1.0000"), "\(same.output)")
        let lost = try compare(empty, gold)
        #expect(lost.output.contains("difference -100.00") && lost.output.contains("p 1.0000"), "\(lost.output)")
        let refused = try compare(gold, fewer)
        #expect(refused.status != 0 && refused.errors.contains(fewer.path) && refused.errors.contains("1 of its titles are missing and 0 are extra"), "\(refused.errors)")
    }
}
