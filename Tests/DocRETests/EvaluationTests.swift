import Testing
import Foundation
@testable import DocRE

// Fixture "Curie fixture": entities 0 Marie Curie/Curie, 1 Warsaw, 2 Pierre Curie/Curie, 3 1895,
// 4 Poland, 5 Paris, 6 55.5%. Labels: place of birth(0,1), spouse(0,2), spouse(2,0),
// capital of(1,4), capital(4,1), country of citizenship(0,4), work location(2,5) — 7 facts.

func rec(_ ts: [[String]], title: String = "Curie fixture", relations: [String]? = nil,
         heads: [String: [String]]? = nil, unparsed: [String]? = nil) -> PredictionRecord {
    var r = PredictionRecord(title: title, relations: relations, heads: heads, triples: [], unparsed: unparsed)
    r.triples = ts
    return r
}

@Test func autoreMetricHandComputed() {
    let ev = Evaluator(documents: Fixture.docs)
    let p = rec([
        ["Curie", "place of birth", "Warsaw"],          // TP via an alias, consumes place of birth(0,1)
        ["Marie Curie", "place of birth", "Warsaw"],    // repeat of a consumed fact: neither
        ["Curie", "spouse", "Curie"],                   // TP: spouse(0,2)
        ["Curie", "spouse", "Curie"],                   // TP: the second spouse label (2,0)
        ["Warsaw", "capital", "Poland"],                // FP: wrong direction
        ["Poland", "Capital", "Warsaw"],                // TP (relation case-insensitive)
        ["Paris", "capital", "France"],                 // FP
        ["Marie Curie", "not a relation", "x"],         // FP: unknown relation
        ["only two"],                                   // FP: malformed row
    ], unparsed: ["garbage line"])
    let s = ev.autore([p])
    #expect(s.total == PRF(tp: 4, fp: 4, gold: 7))
    #expect(approx(s.total.precision, 0.5) && approx(s.total.recall, 4.0 / 7))
    #expect(approx(s.total.f1, 2 * 0.5 * (4.0 / 7) / (0.5 + 4.0 / 7)))
    #expect(s.perRelation["spouse"] == PRF(tp: 2, fp: 0, gold: 2))
    #expect(s.perRelation["capital"] == PRF(tp: 1, fp: 2, gold: 1))
    let strict = ev.autore([p], strict: true)
    #expect(strict.total == PRF(tp: 4, fp: 5, gold: 7))
}

@Test func emptyPredictionsAndUnlabelledDocuments() {
    let ev = Evaluator(documents: Fixture.docs)
    let empty = ev.autore([])
    #expect(empty.total == PRF(tp: 0, fp: 0, gold: 7) && empty.total.f1 == 0)
    let onUnlabelled = ev.autore([rec([["Danube", "located in or next to body of water", "Vienna"]], title: "Unlabelled fixture")])
    #expect(onUnlabelled.total == PRF(tp: 0, fp: 1, gold: 7))
    let st = ev.stages([])
    #expect(st.extra["relations"] == PRF(tp: 0, fp: 0, gold: 6) && st.extra["heads"] == PRF(tp: 0, fp: 0, gold: 7))
    let off = ev.official([], trainFacts: [])
    #expect(off.total == PRF(tp: 0, fp: 0, gold: 7) && off.ignF1 == 0)
}

@Test func officialMetricHandComputed() {
    let ev = Evaluator(documents: Fixture.docs)
    let p = rec([
        ["Curie", "spouse", "Pierre Curie"],          // "Curie" links to 0 and 2 → rows (0,2) ✓; (2,2) skipped
        ["Marie Curie", "place of birth", "Warsaw"],  // (0,1,P19) ✓
        ["Marie Curie", "place of birth", "Warsaw"],  // same row: counted once
        ["Nobody", "spouse", "Warsaw"],               // unlinkable: a wrong row
        ["Warsaw", "capital", "Poland"],              // (1,4,P36) ✗
    ])
    let train: Set<[String]> = [["Marie Curie", "Warsaw", "P19"]]
    let s = ev.official([p], trainFacts: train)
    #expect(s.total == PRF(tp: 2, fp: 2, gold: 7))
    // Ign precision = (correct − correct-in-train) / (submitted − correct-in-train) = (2−1)/(4−1)
    #expect(approx(s.ignPrecision!, 1.0 / 3))
    let r = 2.0 / 7
    #expect(approx(s.ignF1!, 2 * (1.0 / 3) * r / (1.0 / 3 + r)))
    let rows = ev.submission([p]).rows
    #expect(rows.contains(SubmissionRow(title: "Curie fixture", h_idx: 0, t_idx: 2, r: "P26")))
    #expect(rows.count == 3)
    // ambiguous "Curie" as tail: all → both Marie and Pierre; first → Marie only
    let amb = rec([["Pierre Curie", "spouse", "Curie"]])
    #expect(ev.official([amb], trainFacts: [], linking: .all).total == PRF(tp: 1, fp: 0, gold: 7))  // (2,2) skipped
    #expect(ev.official([amb], trainFacts: [], linking: .first).total == PRF(tp: 1, fp: 0, gold: 7))
    let amb2 = rec([["Curie", "work location", "Paris"]])
    #expect(ev.official([amb2], trainFacts: [], linking: .all).total == PRF(tp: 1, fp: 1, gold: 7))
    #expect(ev.official([amb2], trainFacts: [], linking: .first).total == PRF(tp: 0, fp: 1, gold: 7))
}

@Test func stagesMetricHandComputed() {
    let ev = Evaluator(documents: Fixture.docs)
    let p = rec([
        ["Marie Curie", "spouse", "Pierre Curie"],   // TP
        ["Pierre Curie", "spouse", "Curie"],         // TP (tail alias)
        ["Pierre Curie", "spouse", "Curie"],         // repeat of a consumed fact: neither
        ["Pierre Curie", "spouse", "Paris"],         // FP
        ["Paris", "spouse", "Curie"],                // head not a gold head: outside the conditional score
        ["Warsaw", "award received", "Poland"],      // relation not gold: outside
    ], relations: ["place of birth", "Spouse", "capital", "award received"],
       heads: ["spouse": ["Curie", "Curie", "Paris"], "place of birth": ["Marie Curie", "Marie Curie"]])
    let s = ev.stages([p])
    #expect(s.extra["relations"] == PRF(tp: 3, fp: 1, gold: 6))
    #expect(s.extra["heads"] == PRF(tp: 3, fp: 1, gold: 7))
    #expect(s.extra["facts"] == PRF(tp: 2, fp: 1, gold: 7))
    #expect(s.perRelation["award received"] == PRF(tp: 0, fp: 1, gold: 0))
}

@Test func predictionFileRoundTrips() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("docre-preds-\(UInt32.random(in: 0...UInt32.max)).jsonl")
    let r = PredictionRecord(title: "t", relations: ["country"], heads: ["country": ["A"]],
                             triples: [Triple("A", "country", "B")], raw: .object(["relations": .string("country")]))
    try PredictionRecord.write([r, r], to: url)
    #expect(try PredictionRecord.load(url) == [r, r])
    try Data("{\"title\": \"x\"}\n".utf8).write(to: url)
    #expect(throws: DocREError.self) { try PredictionRecord.load(url) }
    try? FileManager.default.removeItem(at: url)
}
