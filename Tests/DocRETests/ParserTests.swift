import Support
import Testing
import Foundation
@testable import DocRE

@Test func triplesAreReadTolerantly() {
    let p = OutputParser(options: ParserOptions(repairSpans: false))
    let text = """
    Here are the facts:
    1. ["Marie Curie", "place of birth", "Warsaw"]
    - ('Pierre Curie', 'Spouse', 'Marie Curie')
    * [Warsaw, capital of, Poland] and that is all
    2) "Convention People's Party", "country", "Ghana"
    [Soviet Union, dissolved, abolished or demolished, 1991]
    ["Marie Curie", "place of birth", "Warsaw"]
    ["a", "no such relation", "b"]
    ["Warsaw", "capital of", "warsaw"]
    nonsense without structure
    """
    let r = p.parseTriples(text, passage: nil)
    #expect(r.triples == [
        Triple("Marie Curie", "place of birth", "Warsaw"), Triple("Pierre Curie", "spouse", "Marie Curie"),
        Triple("Warsaw", "capital of", "Poland"), Triple("Convention People's Party", "country", "Ghana"),
        Triple("Soviet Union", "dissolved, abolished or demolished", "1991"),
        Triple("Marie Curie", "place of birth", "Warsaw"), Triple("Warsaw", "capital of", "warsaw"),
    ])
    #expect(r.report.duplicates == 1)
    #expect(r.report.unknownRelations == 1)
    #expect(r.report.unparseable == 2)          // the header line and the nonsense line
    #expect(r.report.selfRelations == 0)        // Warsaw as its own object: kept by default
    #expect(r.unparsed.count == 3)
    let d = OutputParser(options: ParserOptions(repairSpans: false, dedupe: true)).parseTriples(text, passage: nil)
    #expect(d.triples.count == 6)
    // Warsaw as its own object, dropped when asked
    let s = OutputParser(options: ParserOptions(repairSpans: false, dropSelfRelations: true)).parseTriples(text, passage: nil)
    #expect(s.report.selfRelations == 1 && s.triples.count == r.triples.count - 1 && s.unparsed.count == 4)
}

@Test func listsAndRelationsAreReadTolerantly() {
    let p = OutputParser(options: ParserOptions(spanMatching: .fuzzy))
    let rels = p.parseRelations("1. Country\n- place of birth\nRelations: spouse, sibling\ncountry\nfoo bar\nNone")
    #expect(rels.items == ["country", "place of birth", "spouse", "sibling"])
    #expect(rels.unparsed == ["foo bar"])
    let passage = Fixture.curie.passage
    let heads = p.parseHeads("\"Marie Curie\"\n2. Warsw\n- 'Pierre Curie'\nZanzibar Archipelago\n\"1. FC\"", passage: passage)
    #expect(heads.items == ["Marie Curie", "Warsaw", "Pierre Curie"])
    #expect(heads.report.repaired == 1)
    #expect(heads.report.dropped == 2)
}

@Test func spanRepairUsesThreshold() {
    let passage = Fixture.curie.passage
    let strict = OutputParser(options: ParserOptions(spanMatching: .fuzzy, repairThreshold: 0.95))
    let loose = OutputParser(options: ParserOptions(spanMatching: .fuzzy, repairThreshold: 0.7))
    let t = "[\"Piere Curie\", \"spouse\", \"marie curie\"]"
    #expect(loose.parseTriples(t, passage: passage).triples == [Triple("Pierre Curie", "spouse", "Marie Curie")])
    let s = strict.parseTriples(t, passage: passage)
    #expect(s.triples.isEmpty && s.report.dropped == 1)    // "Piere Curie" ratio 11/12 < 0.95
    // whitespace-only differences are not repairs: "55.5%" is in "55.5 %"
    #expect(loose.parseTriples("[\"Marie Curie\", \"country\", \"55.5%\"]", passage: passage).report.repaired == 0)
    #expect(levenshtein(Array("kitten"), Array("sitting")) == 3)
}

@Test func inverseCompletionAddsKnownInverses() {
    let p = OutputParser(options: ParserOptions(repairSpans: false, inverseCompletion: true))
    let r = p.parseTriples("""
    ["Warsaw", "capital of", "Poland"]
    ["Marie Curie", "spouse", "Pierre Curie"]
    ["Pierre Curie", "father", "Irène"]
    ["Irène", "child", "Pierre Curie"]
    """, passage: nil)
    #expect(Set(r.triples).isSuperset(of: [Triple("Poland", "capital", "Warsaw"), Triple("Pierre Curie", "spouse", "Marie Curie"),
                                          Triple("Irène", "child", "Pierre Curie")]))
    #expect(r.report.inverseAdded == 2)   // child has no inverse; Irène-child-Pierre was already there
}

@Test func fuzzedAndAdversarialInputNeverCrash() {
    var rng = SplitMix64(seed: 42)
    let alphabet = Array("ab Z9\"'[](){},;:|\\\n\t-*•.1234“”’é中\u{301}\u{0}") + ["capital", "spouse", "none", "1. "].flatMap { Array($0) }
    var inputs = ["", "[", "]]]]", "\"", "[\"a\", \"b\"", "[\"a\",\"b\",\"c\",\"d\"]", "1.", "- ", "\\", "\"\\u12\"",
                  "[null, 1, true]", "{\"a\": 1}", String(repeating: "[", count: 5000), String(repeating: "x,", count: 3000),
                  "['unterminated, 'spouse', 'x", "(((a, b, c)))", "\u{FEFF}[\"a\",\"spouse\",\"b\"]", "🙂, spouse, 🙃"]
    for _ in 0..<1500 {
        let n = Int(rng.next() % 80)
        inputs.append(String((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }))
    }
    let p = OutputParser(options: ParserOptions(inverseCompletion: true))
    let passage = Fixture.curie.passage
    var lines = 0
    for s in inputs {
        let t = p.parseTriples(s, passage: passage), h = p.parseHeads(s, passage: passage), r = p.parseRelations(s)
        lines += t.report.lines + h.report.lines + r.report.lines
        for x in t.triples { #expect(RelationCatalogue.standard.canonical(x.relation) == x.relation) }
    }
    #expect(lines > 0)
}

@Test func wordBoundaryMatchingNeverChangesAValue() {
    let passage = "Marie Curie was born in Warsaw in March 2002 . Romanian voters , 55.5 % of them ."
    let p = OutputParser()   // word-boundary matching is the default
    let m = SpanMatcher(passage: passage)
    #expect(m.match("Marie Curie") == .exact)
    #expect(m.match("55.5%") == .exact)                       // whitespace is ignored, word edges are not
    #expect(m.match("marie  curie") == .repaired("Marie Curie"))   // letter case only: the passage's text
    #expect(m.match("Romania") == .none)                      // inside "Romanian"
    #expect(m.match("arie Curie") == .none)                   // starts inside a word
    #expect(m.match("March 2008") == .none)                   // fuzzy matching would make it "March 2002"
    #expect(m.match("Warsw") == .none)
    let heads = p.parseHeads("\"Warsaw\"\n\"Warsw\"\n\"Romania\"\n\"marie curie\"", passage: passage)
    #expect(heads.items == ["Warsaw", "Marie Curie"])
    #expect(heads.report.dropped == 2 && heads.report.repaired == 1)
    // the fuzzy rule, kept for reproducing earlier runs, does change values
    let fuzzy = SpanMatcher(passage: passage, matching: .fuzzy)
    #expect(fuzzy.match("March 2008") == .repaired("March 2002"))
    #expect(fuzzy.match("Romania") == .exact)
}

/// Fuzz finding 9 (Docs/reliability.md): an answer and a passage decoded from invalid UTF-8 (a NUL after a
/// cut-off "e2 80", runs of 0x95). Foundation's `String.contains` trapped inside the fuzzy span repair on
/// the squeezed passage; the repair now searches the passage byte for byte. The input is the committed seed
/// `Fuzz/Corpus/parse-triples/foundation-contains-trap.input`, read as the fuzz target reads it: options in
/// the first byte (0x23: repair, fuzzy matching), then the answer and, after a `--8<--` line, the passage.
@Test func fuzzyRepairOfAPassageFromInvalidUTF8() throws {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let bytes = [UInt8](try Data(contentsOf: repo.appendingPathComponent("Fuzz/Corpus/parse-triples/foundation-contains-trap.input")))
    #expect(bytes.first == 0x23)
    let body = Array(bytes.dropFirst()), cut = Array("\n--8<--\n".utf8)
    let at = try #require((0...(body.count - cut.count)).first { body[$0..<($0 + cut.count)].elementsEqual(cut) })
    let answer = String(decoding: body[..<at], as: UTF8.self), passage = String(decoding: body[(at + cut.count)...], as: UTF8.self)
    #expect(passage.contains("\u{FFFD}"))    // the lone 0x95 bytes decode to replacement characters
    let parser = OutputParser(catalogue: .standard, options: ParserOptions(repairSpans: true, spanMatching: .fuzzy))
    let r = parser.parseTriples(answer, passage: passage)
    // every name kept is a span of the passage, compared as bytes once whitespace is squeezed out
    let squeezed = Array(Text.squeezed(passage).utf8)
    for t in r.triples {
        for name in [t.head, t.tail] {
            let n = Array(Text.squeezed(name).utf8)
            #expect(!n.isEmpty && (0...max(0, squeezed.count - n.count)).contains { squeezed[$0..<min(squeezed.count, $0 + n.count)].elementsEqual(n) },
                    "\(name) is not in the passage")
        }
    }
    #expect(r.report.lines > 0)
    // the byte search itself, on a hand-made passage: a span holding replacement characters is found exactly,
    // one differing only by a letter is repaired to the passage's words, one far from any is dropped
    let m = SpanMatcher(passage: String(decoding: [0x4C, 0x61, 0x72, 0x95, 0x6B, 0x20, 0x4F, 0x64, 0x65], as: UTF8.self), matching: .fuzzy)
    #expect(m.match("Lar\u{FFFD}k") == .exact)
    #expect(m.match("Ode") == .exact)
    #expect(m.match("Odd") == .none)          // 1 − 1/3 < 0.75
    #expect(m.match("Lar\u{FFFD}k Odes") == .repaired("Lar\u{FFFD}k Ode"))
}
