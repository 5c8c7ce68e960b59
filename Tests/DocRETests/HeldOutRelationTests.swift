// Held-out relations on the hand-made Curie document: no training example mentions them in any paradigm
// or option, `auto` picks relations of middle frequency as ranked by hand, and the seen/unseen scores
// split the AutoRE counts exactly.
import Testing
import Foundation
@testable import DocRE

@Test(arguments: Paradigm.allCases)
func heldOutRelationsAppearInNoTrainingExample(_ p: Paradigm) throws {
    let held: Set<String> = ["spouse", "capital"]
    for (augment, aliases, order) in [(0, false, PromptOrder.documentFirst), (2, true, .documentFirst), (1, false, .original)] {
        let options = ParadigmOptions(order: order, augmentCopies: augment, seed: 7, aliasExpansion: aliases, heldOutRelations: held)
        let b = try ParadigmBuilder(paradigm: p, options: options)
        let ex = try b.examples(for: Fixture.curie)
        #expect(!ex.isEmpty)
        for e in ex {
            #expect(!held.contains(e.relation ?? ""), "\(p): a question about \(e.relation!)")
            // every answer line, parsed as the extractor parses it, names no held-out relation
            for line in e.answer.split(separator: "\n").map(String.init) {
                if e.stage == .relations { #expect(!held.contains(line), "\(p): relations answer lists \(line)") }
                if let data = line.data(using: .utf8), let row = try? JSONDecoder().decode([String].self, from: data), row.count == 3 {
                    #expect(!held.contains(row[1]), "\(p): answer holds the fact \(line)")
                }
            }
            // and no question lists one (D_RS_F names the relations in its fact question)
            for r in held { #expect(!e.question.contains("\"\(r)\""), "\(p): question names \(r)") }
        }
        // The seen relations keep their examples: the same as without holding out, less the held-out ones.
        let all = try ParadigmBuilder(paradigm: p, options: ParadigmOptions(order: order, augmentCopies: augment, seed: 7, aliasExpansion: aliases))
            .examples(for: Fixture.curie)
        let kept = all.filter { !held.contains($0.relation ?? "") }
        if p == .D_R_H_F || p == .D_R_H_F_desc {
            #expect(ex.filter { $0.stage != .relations } == kept.filter { $0.stage != .relations })
        }
    }
    if p.stages.contains(.relations) {
        let rel = try ParadigmBuilder(paradigm: p, options: ParadigmOptions(heldOutRelations: held)).examples(for: Fixture.curie)
            .first { $0.stage == .relations }!
        #expect(rel.answer == "place of birth\ncapital of\ncountry of citizenship\nwork location")
    }
}

@Test func autoHoldsOutRelationsOfMiddleFrequency() throws {
    // Ranked by training facts (ties in catalogue order): spouse (2), then place of birth, country of
    // citizenship, capital, work location, capital of (1 each). A quarter (1) set aside at each end leaves
    // the middle four, cut into strata.
    let docs = Fixture.docs
    let middle = ["place of birth", "country of citizenship", "capital", "work location"]
    #expect(try HeldOutRelations.auto(4, seed: 3, training: docs, catalogue: .standard) == middle)
    for seed in UInt64(0)..<20 {
        let two = try HeldOutRelations.auto(2, seed: seed, training: docs, catalogue: .standard)
        #expect(two.count == 2 && middle[0..<2].contains(two[0]) && middle[2..<4].contains(two[1]))
        #expect(two == (try HeldOutRelations.auto(2, seed: seed, training: docs, catalogue: .standard)))
    }
    let picks = Set((UInt64(0)..<20).map { try! HeldOutRelations.auto(1, seed: $0, training: docs, catalogue: .standard)[0] })
    #expect(picks == Set(middle), "twenty seeds should reach every relation of the one stratum")
    #expect(throws: DocREError.self) { try HeldOutRelations.auto(5, seed: 0, training: docs, catalogue: .standard) }
    #expect(try HeldOutRelations.resolve(["P26", "capital", "spouse"], catalogue: .standard) == ["spouse", "capital"])
    #expect(throws: DocREError.self) { try HeldOutRelations.resolve(["P9999"], catalogue: .standard) }
}

@Test func unseenScoresSplitTheCounts() throws {
    let doc = Fixture.curie
    let pred = PredictionRecord(title: doc.title, relations: ["spouse", "place of birth", "author"], triples: [
        Triple("Marie Curie", "spouse", "Pierre Curie"),      // gold, held out
        Triple("Curie", "place of birth", "Warsaw"),          // gold (alias of Marie Curie), seen
        Triple("Warsaw", "spouse", "Paris"),                  // wrong, held out
        Triple("Paris", "author", "Poland"),                  // wrong, seen
    ])
    let s = UnseenRelationScores(heldOut: ["spouse"], documents: [doc], predictions: [pred], catalogue: .standard)
    #expect(s.unseen == PRF(tp: 1, fp: 1, gold: 2))
    #expect(s.seen == PRF(tp: 1, fp: 1, gold: 5))
    let total = Evaluator(documents: [doc]).autore([pred]).total
    #expect(s.seen + s.unseen == total)
    #expect(s.documentsWithUnseen == 1 && s.documentsProducingUnseen == 1)
    #expect(s.unseenTriplesPredicted == 2 && s.unseenRelationsPredicted == 1)
    let none = UnseenRelationScores(heldOut: ["spouse"], documents: [doc], predictions: [PredictionRecord(title: doc.title, triples: [])], catalogue: .standard)
    #expect(none.documentsProducingUnseen == 0 && none.unseen == PRF(tp: 0, fp: 0, gold: 2))
}
