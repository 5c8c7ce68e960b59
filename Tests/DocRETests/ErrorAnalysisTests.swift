// The error analysis on a hand-made prediction for the committed Curie document, every count worked out
// by hand from its seven gold facts.
import Testing
@testable import DocRE

@Test func errorAnalysisCountsTheCascadeByHand() {
    let doc = Fixture.curie
    // gold: Marie Curie —place of birth→ Warsaw; spouse both ways with Pierre Curie; Warsaw capital of
    // Poland and back; Marie Curie country of citizenship Poland; Pierre Curie work location Paris
    let p = PredictionRecord(title: doc.title, relations: ["place of birth", "spouse", "country"],
                             heads: ["place of birth": ["Marie Curie"], "spouse": ["Pierre Curie", "Warsw"], "country": ["Paris"]],
                             triples: [Triple("Marie Curie", "place of birth", "Paris"), Triple("Pierre Curie", "spouse", "Curie"),
                                       Triple("Paris", "country", "France")])
    let a = ErrorAnalysis(documents: [doc], predictions: [p])
    #expect(a.goldFacts == 7)
    #expect(a.relationFound == 3)     // place of birth (1 fact) and spouse (2)
    #expect(a.headFound == 2)         // Marie Curie for place of birth; Pierre Curie for spouse(Pierre → Marie)
    #expect(a.tailFound == 1)         // "Curie" is a name of Marie Curie; Paris is not her birthplace
    #expect(a.predictedRelations == 3 && a.goldRelations == 6)
    #expect(a.predictedHeads == 4 && a.goldHeads == 7)
    #expect(a.predictedTriples == 3 && a.predictedPairs == 3)
    #expect(a.namesWritten == 10 && a.namesOutsideDocument == 2)   // "Warsw" and "France"
    #expect(abs(a.cascade.head - 2.0 / 7) < 1e-12)
    // a document without a prediction loses every fact at the first stage
    let none = ErrorAnalysis(documents: [doc], predictions: [])
    #expect(none.goldFacts == 7 && none.relationFound == 0 && none.namesWritten == 0)
}
