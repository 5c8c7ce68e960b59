import Testing
import Foundation
@testable import DocRE

@Test func documentFirstSharesOnePrefixPerDocument() throws {
    for p in Paradigm.allCases {
        let b = try ParadigmBuilder(paradigm: p)
        let ex = try b.examples(for: Fixture.curie)
        #expect(Set(ex.map(\.prefix)) == [b.prefix(for: Fixture.curie)])
        #expect(Set(ex.map(\.stage)) == Set(p.stages))
        for e in ex { #expect(e.prompt.hasPrefix(e.prefix) && e.question.hasSuffix("Answer:\n")) }
        let orig = try ParadigmBuilder(paradigm: p, options: ParadigmOptions(order: .original)).examples(for: Fixture.curie)
        if orig.count > 1 { #expect(Set(orig.map(\.prefix)).count > 1) }
        #expect(orig.allSatisfy { !$0.prefix.hasPrefix("Read the passage") })
    }
}

@Test func answersAreWrittenAsDocumented() throws {
    let b = try ParadigmBuilder(paradigm: .D_R_H_F)
    let ex = try b.examples(for: Fixture.curie)
    let rel = ex.first { $0.stage == .relations }!
    #expect(rel.answer == "place of birth\nspouse\ncapital of\ncapital\ncountry of citizenship\nwork location")
    let heads = ex.first { $0.stage == .heads && $0.relation == "spouse" }!
    #expect(heads.answer == "\"Marie Curie\"\n\"Pierre Curie\"")
    let f = ex.first { $0.stage == .facts && $0.relation == "spouse" && $0.head == "Pierre Curie" }!
    #expect(f.answer == "[\"Pierre Curie\", \"spouse\", \"Marie Curie\"]")
    let df = try ParadigmBuilder(paradigm: .D_F).examples(for: Fixture.curie)
    #expect(df.count == 1 && df[0].answer.split(separator: "\n").count == 7)
    let desc = try ParadigmBuilder(paradigm: .D_R_H_F_desc).examples(for: Fixture.curie)
    #expect(desc.first { $0.stage == .heads }!.question.contains("Example: ["))
    #expect(!heads.question.contains("Example"))
    // the unlabelled document still yields a (empty) relations question
    #expect(try b.examples(for: Fixture.docs[1]).map(\.answer) == [""])
}

@Test func augmentationIsSeededAndPermutesAnswers() throws {
    let opts = ParadigmOptions(augmentCopies: 2, seed: 7)
    let a = try ParadigmBuilder(paradigm: .D_R_F, options: opts).examples(for: Fixture.curie)
    let b = try ParadigmBuilder(paradigm: .D_R_F, options: opts).examples(for: Fixture.curie)
    #expect(a == b)
    let rel = a.filter { $0.stage == .relations }
    #expect(rel.count == 3)
    for c in rel.dropFirst() { #expect(Set(c.answer.split(separator: "\n")) == Set(rel[0].answer.split(separator: "\n"))) }
    let other = try ParadigmBuilder(paradigm: .D_R_F, options: ParadigmOptions(augmentCopies: 2, seed: 8)).examples(for: Fixture.curie)
    #expect(other.filter { $0.copy == 0 } == a.filter { $0.copy == 0 })
}

/// Oracle answers for every paradigm, order and alias setting must score 100 under autore and stages.
func oracleScores(_ docs: [Document], _ b: ParadigmBuilder) throws -> [PRF] {
    let (recs, rep) = try Oracle(builder: b, parser: OutputParser(catalogue: b.catalogue)).predictions(for: docs)
    #expect(rep.unparseable == 0 && rep.dropped == 0 && rep.repaired == 0)
    let ev = Evaluator(documents: docs, catalogue: b.catalogue)
    let st = ev.stages(recs)
    return [ev.autore(recs).total, ev.autore(recs, strict: true).total, st.extra["relations"]!, st.extra["heads"]!, st.extra["facts"]!]
}

@Test(arguments: Paradigm.allCases)
func oracleIsPerfectOnFixture(_ p: Paradigm) throws {
    for order in PromptOrder.allCases { for aliases in [false, true] {
        let b = try ParadigmBuilder(paradigm: p, options: ParadigmOptions(order: order, aliasExpansion: aliases))
        for s in try oracleScores(Fixture.docs, b) { #expect(s.f1 == 1 && s.fp == 0, "\(p) \(order) aliases=\(aliases) \(s)") }
    } }
}

@Test(arguments: Paradigm.allCases)
func oracleIsPerfectOnRealData(_ p: Paradigm) throws {
    guard let l = Fixture.real else { Fixture.note("oracle"); return }
    let b = try ParadigmBuilder(paradigm: p, catalogue: try l.catalogue())
    // the first 120 documents of each split keep the suite fast; `autore eval --oracle` covers all 500
    for split in [Split.dev, .test] {
        for s in try oracleScores(Array(try l.load(split).documents.prefix(120)), b) { #expect(s.f1 == 1 && s.fp == 0, "\(p) \(split) \(s)") }
    }
}

@Test func theStageChainFollowsTheParadigm() {
    let heads = ["spouse": ["Pierre Curie", "Marie Curie"], "sibling": ["Bronisława"]]
    #expect(Paradigm.D_F.headQuestions(relations: ["spouse"]) == nil)
    #expect(Paradigm.D_R_H_F.headQuestions(relations: ["spouse", "sibling"]) == [.heads(relation: "spouse"), .heads(relation: "sibling")])
    #expect(Paradigm.D_F.factQuestions(relations: [], heads: [:]) == [.allFacts])
    #expect(Paradigm.D_RS_F.factQuestions(relations: [], heads: [:]).isEmpty)
    #expect(Paradigm.D_RS_F.factQuestions(relations: ["spouse", "sibling"], heads: [:]) == [.factsGivenRelations(["spouse", "sibling"])])
    #expect(Paradigm.D_R_F.factQuestions(relations: ["spouse", "sibling"], heads: [:]) == [.factsOfRelation("spouse"), .factsOfRelation("sibling")])
    #expect(Paradigm.D_R_H_F_desc.factQuestions(relations: ["sibling", "spouse"], heads: heads) == [
        .factsOfHead(relation: "sibling", head: "Bronisława"),
        .factsOfHead(relation: "spouse", head: "Pierre Curie"), .factsOfHead(relation: "spouse", head: "Marie Curie"),
    ])
}
