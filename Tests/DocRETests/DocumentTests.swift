import Testing
import Foundation
@testable import DocRE

@Test func fixtureLoadsAndPassageContainsNames() throws {
    let docs = Fixture.docs
    #expect(docs.count == 2)
    #expect(docs[1].labels.isEmpty)             // "labels" key absent → empty
    let d = Fixture.curie
    let e = d.entities
    #expect(e[0].names == ["Marie Curie", "Curie"])
    #expect(e[6].names == ["55.5%", "55.5 %"])  // token text added where the name differs
    #expect(e[6].canonicalName == "55.5%")
    for ent in e { #expect(Text.squeezed(d.passage).contains(Text.squeezed(ent.canonicalName))) }
    let s = DatasetStats(documents: docs, tokenCount: { $0.count })
    #expect(s.triples == 7 && s.entities == 9 && s.documentsWithoutLabels == 1)
    #expect(s.mentionNamesNotVerbatim == 1 && s.mentionNamesDifferingFromTokens == 1)
    #expect(s.entitiesWithSharedNames == 2)      // "Curie" names Marie and Pierre
    #expect(s.passageTokens != nil)
}

@Test func malformedFileGivesOneErrorWithIndexAndField() throws {
    let ok = #"{"title": "a", "sents": [["x"]], "vertexSet": [[{"name": "x", "sent_id": 0, "pos": [0, 1], "type": "T"}]], "labels": []}"#
    let missingTitle = #"{"sents": [["x"]], "vertexSet": [], "labels": []}"#
    #expect(throws: DocREError.malformed(file: "f.json", document: 1, field: "title", reason: "missing")) {
        try DocumentLoader.decode(Data("[\(ok), \(missingTitle)]".utf8), file: "f.json")
    }
    let badPos = ok.replacingOccurrences(of: "[0, 1]", with: "\"zero\"")
    do { _ = try DocumentLoader.decode(Data("[\(ok), \(ok), \(badPos)]".utf8), file: "f.json"); Issue.record("no error") }
    catch let DocREError.malformed(file, doc, field, _) { #expect(file == "f.json" && doc == 2 && field == "vertexSet[0][0].pos") }
    let badH = ok.replacingOccurrences(of: #""labels": []"#, with: #""labels": [{"h": 5, "t": 0, "r": "P17"}]"#)
    do { _ = try DocumentLoader.decode(Data("[\(badH)]".utf8), file: "f.json"); Issue.record("no error") }
    catch let DocREError.malformed(_, doc, field, _) { #expect(doc == 0 && field == "labels[0].h") }
    #expect(throws: DocREError.self) { try DocumentLoader.decode(Data("[{\"title\": ".utf8), file: "f.json") }
    let outOfRange = ok.replacingOccurrences(of: "[0, 1]", with: "[0, 3]")
    do { _ = try DocumentLoader.decode(Data("[\(outOfRange)]".utf8), file: "f.json"); Issue.record("no error") }
    catch let DocREError.malformed(_, doc, field, _) { #expect(doc == 0 && field == "vertexSet[0][0].pos") }
}

@Test func realStatsMatchPublishedNumbers() throws {
    guard let l = Fixture.real else { Fixture.note("stats"); return }
    let dev = DatasetStats(documents: try l.load(.dev).documents)
    let test = DatasetStats(documents: try l.load(.test).documents)
    #expect(dev.documents == 500 && dev.triples == 17_284)
    #expect(test.documents == 500 && test.triples == 17_448)
    if !l.hasTrainFile {
        #expect(try l.load(.train).documents.count == 400)
        #expect(try l.load(.select).documents.count == 100)
    }
}

@Test func catalogueHas96RelationsAndItsInversesExist() throws {
    let c = RelationCatalogue.standard
    #expect(c.names.count == 96 && Set(c.names).count == 96)
    for (a, b) in RelationCatalogue.inversePairs + RelationCatalogue.oneWayInverses {
        #expect(c.canonical(a) == a && c.canonical(b) == b)
    }
    for s in RelationCatalogue.symmetric { #expect(c.canonical(s) == s) }
    #expect(c.canonical("  Followed   BY ") == "followed by")
    #expect(c.inverses(of: "follows") == ["followed by"])
    #expect(c.inverses(of: "father") == ["child"])
    #expect(c.inverses(of: "child").isEmpty)
    #expect(c.inverses(of: "spouse") == ["spouse"])
    if let l = Fixture.real {
        let f = try l.catalogue()
        #expect(f.names == c.names)
        #expect(f.relations.map(\.id) == c.relations.map(\.id))
    }
}

@Test func everyRelationHasOwnDescriptionAndExample() throws {
    let d = try RelationDescriptions.own()
    #expect(d.byRelation.count == 96)
    for r in RelationCatalogue.standard.names {
        let x = try d.description(of: r)
        #expect((x?.description.count ?? 0) > 20, "description of \(r)")
        #expect(x?.example?.count == 3 && x?.example?[1] == r, "example of \(r)")
    }
    let partial = RelationDescriptions(set: .own, byRelation: ["country": RelationDescription(description: "x")])
    #expect(throws: DocREError.missingDescription(relation: "spouse", set: "own")) { try partial.description(of: "spouse") }
    let b = try ParadigmBuilder(paradigm: .D_R_H_F_desc, descriptions: partial)
    #expect(throws: DocREError.missingDescription(relation: "place of birth", set: "own")) { try b.examples(for: Fixture.curie) }
}
