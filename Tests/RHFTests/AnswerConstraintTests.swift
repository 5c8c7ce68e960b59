// The RHF answer automata on hand-written answers, relation selection by likelihood on a hand-made
// ranking, and constrained extraction with a tiny random model: whatever the weights, every relation
// is a catalogue name and every head and tail a span of whole passage words, none twice.
import DocRE
import Foundation
import LanguageModels
import Testing
@testable import RHF

/// Whether `automaton` accepts the whole of `text` as a finished answer.
func accepts<A: ByteAutomaton>(_ automaton: A, _ text: String) -> Bool {
    var s: A.State? = automaton.start
    for b in text.utf8 { s = s.flatMap { automaton.step($0, b) } }
    return s.map(automaton.accepts) ?? false
}
/// Whether `text` can still be continued into an accepted answer (the automaton has not rejected it).
func alive<A: ByteAutomaton>(_ automaton: A, _ text: String) -> Bool {
    var s: A.State? = automaton.start
    for b in text.utf8 { s = s.flatMap { automaton.step($0, b) } }
    return s != nil
}

@Suite struct AnswerConstraintTests {
    @Test func relationListsSpellCatalogueNamesOnceEach() throws {
        let a = try NameListAutomaton(names: ["country", "country of citizenship", "spouse"])
        #expect(accepts(a, ""))
        #expect(accepts(a, "country"))
        #expect(accepts(a, "country\ncountry of citizenship"))
        #expect(accepts(a, "spouse\ncountry\n"))
        #expect(!accepts(a, "countr"))                        // not a whole name
        #expect(!alive(a, "Country"))                         // not a name's spelling
        #expect(!alive(a, "country\ncountry\n"))              // a name twice
        #expect(!accepts(a, "country\ncountry"))
        #expect(alive(a, "country\ncountry of"))              // a longer name through a used one
        #expect(!alive(a, "spouse\nspouse"))                  // every name below is used: no way in
        #expect(!alive(a, "country, spouse"))
    }

    @Test func spanLinesCopyWholePassageWordsOnceEach() throws {
        let passage = "Marie Curie was born in Warsaw . Romanian 55.5 % of the vote"
        let heads = try PassageSpanLinesAutomaton.heads(passage: passage)
        #expect(accepts(heads, ""))
        #expect(accepts(heads, "\"Marie Curie\"\n\"Warsaw\""))
        #expect(accepts(heads, "\"55.5 %\""))
        #expect(!alive(heads, "\"arie"))                      // not at a word start
        #expect(!alive(heads, "\"Romania\""))                 // ends inside a word
        #expect(!alive(heads, "\"Paris\""))                   // not in the passage
        #expect(!alive(heads, "\"Warsaw\"\n\"Warsaw\""))      // twice
        #expect(!alive(heads, "\"\""))                        // empty
        #expect(!accepts(heads, "\"Warsaw"))                  // unfinished line
        #expect(!alive(heads, "Warsaw"))                      // unquoted
        let facts = try PassageSpanLinesAutomaton.facts(passage: passage, relation: "place of birth", head: "Marie Curie")
        #expect(accepts(facts, "[\"Marie Curie\", \"place of birth\", \"Warsaw\"]"))
        #expect(accepts(facts, "[\"Marie Curie\", \"place of birth\", \"Warsaw\"]\n[\"Marie Curie\", \"place of birth\", \"Warsaw .\"]"))
        #expect(!alive(facts, "[\"Pierre Curie\""))           // the head is fixed
        #expect(!alive(facts, "[\"Marie Curie\", \"spouse\""))  // so is the relation
        #expect(!alive(facts, "[\"Marie Curie\", \"place of birth\", \"Warsa\"]"))
        // what the automaton accepts is what the parser reads back, unchanged
        let parsed = OutputParser().parseTriples("[\"Marie Curie\", \"place of birth\", \"Warsaw\"]", passage: passage)
        #expect(parsed.triples == [Triple("Marie Curie", "place of birth", "Warsaw")] && parsed.report.repaired == 0)
    }

    @Test func relationSelectionKeepsTheBestAboveTheThreshold() {
        let scored: [(name: String, logProbability: Double)] = [("a", -3), ("b", -0.5), ("c", -1), ("d", -1), ("e", -9)]
        #expect(RelationSelection(topK: 3).select(scored) == ["b", "c", "d"])         // ties keep catalogue order
        #expect(RelationSelection(topK: 10).select(scored) == ["b", "c", "d", "a", "e"])
        #expect(RelationSelection(topK: 10, minLogProbability: -2).select(scored) == ["b", "c", "d"])
        #expect(RelationSelection(topK: 10, minLogProbability: -0.1).select(scored) == ["b"])   // at least one
        #expect(RelationSelection(topK: 10, minLogProbability: -0.1, minimum: 2).select(scored) == ["b", "c"])
    }

    @Test func unionAddsOnlyUnwrittenRelationsAboveTheThreshold() {
        let scored: [(name: String, logProbability: Double)] = [("a", -1), ("b", -0.5), ("c", -3), ("d", -0.5)]
        #expect(RelationSelection(topK: 8, minLogProbability: -2).additions(to: ["b"], from: scored) == ["d", "a"])
        #expect(RelationSelection(topK: 1, minLogProbability: -2).additions(to: ["b"], from: scored) == ["d"])
        #expect(RelationSelection(topK: 8, minLogProbability: -0.5).additions(to: [], from: scored) == ["b", "d"])
        #expect(RelationSelection(topK: 8).additions(to: [], from: scored).isEmpty)   // no threshold, nothing added
    }

    /// `relations: union` on the tiny model: the written list, then the unwritten relations in likelihood
    /// order (the order `relations: likelihood` keeps them in) down to the threshold; with a threshold of 0
    /// nothing is added (every log-probability is below 0).
    @Test func unionIsTheWrittenListThenTheLikelihoodRanking() throws {
        let model = try ExtractorTests.tinyModel()
        let builder = try ParadigmBuilder(paradigm: .D_R_H_F, catalogue: .standard)
        let format = try PromptFormat(tokenizer: ExtractorTests.tokenizer(), chatTemplate: "none")
        var o = ExtractionOptions()
        o.budget = [.relations: 40, .heads: 4, .facts: 4]; o.batchDocuments = 2; o.constrained = true; o.maxRelations = 12
        o.endBias = [.relations: -1e4]; o.stopOnRepeatedLine = false
        func run(_ method: RelationsMethod, _ threshold: Double?, topK: Int = 96) throws -> [PredictionRecord] {
            var p = o; p.relations = method; p.relationSelection = RelationSelection(topK: topK, minLogProbability: threshold)
            return try Extractor(model: model, format: format, builder: builder, adapters: [:], options: p)
                .extract(ExtractorTests.docs)
        }
        let written = try run(.generate, nil), ranked = try run(.likelihood, nil), none = try run(.union, 0), all = try run(.union, -1e9)
        #expect(none.map(\.relations) == written.map(\.relations))
        var added = 0
        for (w, (r, u)) in zip(written, zip(ranked, all)) {
            let own = w.relations ?? []
            // likelihood kept the 96 best, best first (maxRelations cuts it to 12): the ranking, as far as it goes
            let expected = Array((own + (r.relations ?? []).filter { !own.contains($0) }).prefix(12))
            #expect(u.relations == expected)
            added += expected.count - own.count
        }
        #expect(added > 0)   // not vacuous
    }

    @Test func constrainedExtractionWritesOnlyCatalogueNamesAndPassageSpans() throws {
        let model = try ExtractorTests.tinyModel()
        let builder = try ParadigmBuilder(paradigm: .D_R_H_F, catalogue: .standard)
        let format = try PromptFormat(tokenizer: ExtractorTests.tokenizer(), chatTemplate: "none")
        var o = ExtractionOptions()
        o.budget = [.relations: 40, .heads: 24, .facts: 60]; o.batchDocuments = 2; o.constrained = true
        o.stopOnRepeatedLine = false
        let x = Extractor(model: model, format: format, builder: builder, adapters: [:], options: o)
        let docs = ExtractorTests.docs
        let preds = try x.extract(docs)
        let names = Set(RelationCatalogue.standard.names)
        var heads = 0, tails = 0
        for (doc, p) in zip(docs, preds) {
            let matcher = SpanMatcher(passage: doc.passage)
            for r in p.relations ?? [] { #expect(names.contains(r)) }
            #expect(Set(p.relations ?? []).count == (p.relations ?? []).count)
            for (_, hs) in p.heads ?? [:] {
                #expect(Set(hs).count == hs.count)
                for h in hs { heads += 1; #expect(matcher.match(h) == .exact, "head \(h)") }
            }
            for t in p.tripleValues { tails += 1; #expect(matcher.match(t.tail) == .exact, "tail \(t.tail)") }
            // every raw answer is a beginning of its format (one cut by the budget may end mid-line)
            guard case .object(let raw)? = p.raw else { Issue.record("no raw answers"); continue }
            for (key, value) in raw {
                guard case .string(let text) = value else { continue }
                let parts = key.components(separatedBy: " | ")
                switch parts[0] {
                case "relations": #expect(alive(try NameListAutomaton(names: RelationCatalogue.standard.names), text), "\(text)")
                case "heads": #expect(alive(try PassageSpanLinesAutomaton.heads(passage: doc.passage), text), "\(text)")
                default: #expect(alive(try PassageSpanLinesAutomaton.facts(passage: doc.passage, relation: parts[1], head: parts[2]), text), "\(text)")
                }
            }
        }
        #expect(heads > 0 && tails > 0)   // not vacuous: the random model did write spans
        // unconstrained, the same model writes things that are not names or spans
        o.constrained = false
        let free = try Extractor(model: model, format: format, builder: builder, adapters: [:], options: o).extract(docs)
        #expect(free.allSatisfy { ($0.relations ?? []).isEmpty })
    }
}

@Suite struct RepeatableAnswerTests {
    @Test func repeatsAreAllowedOnlyWhenAsked() throws {
        let names = try NameListAutomaton(names: ["country", "spouse"], allowsRepeats: true)
        #expect(accepts(names, "country\ncountry"))
        #expect(!alive(names, "countri"))
        let heads = try PassageSpanLinesAutomaton.heads(passage: "Marie Curie was born in Warsaw .", allowsRepeats: true)
        #expect(accepts(heads, "\"Warsaw\"\n\"Warsaw\""))
        #expect(!alive(heads, "\"Warsa\""))
    }
}

@Suite struct SharedHeadsTests {
    @Test func subjectsOfOtherRelationsAreAddedByTheirScore() throws {
        let model = try ExtractorTests.tinyModel()
        let builder = try ParadigmBuilder(paradigm: .D_R_H_F, catalogue: .standard)
        let format = try PromptFormat(tokenizer: ExtractorTests.tokenizer(), chatTemplate: "none")
        var o = ExtractionOptions()
        o.budget = [.relations: 90, .heads: 24, .facts: 8]; o.batchDocuments = 2; o.constrained = true; o.maxHeads = 50
        o.endBias = [.relations: -1e4]; o.stopOnRepeatedLine = false   // several relations, each named once
        func run(_ threshold: Double?) throws -> [PredictionRecord] {
            var p = o; p.sharedHeadsMinLogProbability = threshold
            return try Extractor(model: model, format: format, builder: builder, adapters: [:], options: p)
                .extract(ExtractorTests.docs)
        }
        let plain = try run(nil), none = try run(0), all = try run(-1e9)
        #expect(none.map(\.heads) == plain.map(\.heads))        // nothing scores log p ≥ 0
        var added = 0
        for (doc, (p, a)) in zip(ExtractorTests.docs, zip(plain, all)) {
            let relations = p.relations ?? []
            let union = unique(relations.flatMap { p.heads?[$0] ?? [] })
            for r in relations {
                let own = p.heads?[r] ?? []
                let expected = own + union.filter { !own.contains($0) }
                #expect(a.heads?[r] == expected, "\(r)")
                added += expected.count - own.count
                // the recorded scores are log p of the subject's line after the relation's heads question
                guard case .object(let raw)? = a.raw, case .object(let scores)? = raw["shared heads | \(r)"] else { continue }
                let (prefix, question) = try builder.prompt(doc, .heads(relation: r))
                let names = scores.keys.sorted()
                let direct = try model.logProbabilities(of: names.map { format.tokenizer.encode(TripletFormat.quote($0) + "\n") },
                                                        after: format.encodePrefix(prefix) + format.encodeQuestion(question))
                for (n, lp) in zip(names, direct) {
                    guard case .number(let got)? = scores[n] else { Issue.record("no score for \(n)"); continue }
                    #expect(abs(got - lp) <= 2e-3, "\(n): \(got) vs \(lp)")
                }
            }
        }
        #expect(added > 0)   // not vacuous
    }
}
