// Where an extraction loses the gold facts: the cascade of stages (relation named → subject listed →
// object right), how many answers each stage gives against gold, and how many written names are not in
// the passage. Computed from predictions and gold documents only; not a score (Evaluator) nor a table.
import Foundation

/// Error analysis of one split's predictions.
///
///     let a = ErrorAnalysis(documents: docs, predictions: preds)
///     a.relationFound / a.goldFacts      // share of gold facts whose relation was named
public struct ErrorAnalysis: Codable, Equatable, Sendable {
    public var documents = 0
    /// Gold facts (entity pairs with a relation), and of those: the relation was named (the relations answer,
    /// or a predicted triple's relation where the paradigm has no relations stage); and a name of the subject
    /// was listed for it (the heads answer, or a predicted triple's subject); and a predicted triple of that
    /// relation joins a name of the subject to a name of the object.
    public var goldFacts = 0
    public var relationFound = 0
    public var headFound = 0
    public var tailFound = 0
    /// Answers against gold: relations per document (named, gold); subjects per relation (listed over the
    /// named relations, gold (relation, subject) pairs over the gold relations); objects per subject
    /// (triples over the (relation, subject) pairs they name, gold facts over the gold pairs).
    public var predictedRelations = 0, goldRelations = 0
    public var predictedHeads = 0, goldHeads = 0
    public var predictedTriples = 0, predictedPairs = 0
    /// Names written (listed subjects and both names of every triple) and those that are no run of whole
    /// passage words (whitespace ignored), i.e. not in the document.
    public var namesWritten = 0
    public var namesOutsideDocument = 0

    public init() {}

    public init(documents docs: [Document], predictions: [PredictionRecord], catalogue: RelationCatalogue = .standard) {
        var byTitle: [String: PredictionRecord] = [:]
        for p in predictions where byTitle[p.title] == nil { byTitle[p.title] = p }
        for doc in docs {
            documents += 1
            let p = byTitle[doc.title]
            let entities = doc.entities
            let names = entities.map { Set($0.names.map(Text.normalised)) }
            let facts = (try? doc.facts(catalogue)) ?? []
            let triples = (p?.tripleValues ?? []).compactMap { t in
                catalogue.canonical(t.relation).map { Triple(Text.normalised(t.head), $0, Text.normalised(t.tail)) }
            }
            let relations = Set((p?.relations ?? triples.map(\.relation)).compactMap(catalogue.canonical))
            var heads: [String: Set<String>] = [:]
            if let h = p?.heads {
                for (r, hs) in h { if let c = catalogue.canonical(r) { heads[c, default: []].formUnion(hs.map(Text.normalised)) } }
            } else {
                for t in triples { heads[t.relation, default: []].insert(t.head) }
            }
            // the cascade
            goldFacts += facts.count
            for f in facts where relations.contains(f.relation) {
                relationFound += 1
                guard !(heads[f.relation] ?? []).isDisjoint(with: names[f.head]) else { continue }
                headFound += 1
                if triples.contains(where: { $0.relation == f.relation && names[f.head].contains($0.head) && names[f.tail].contains($0.tail) }) {
                    tailFound += 1
                }
            }
            // answers against gold
            predictedRelations += relations.count; goldRelations += Set(facts.map(\.relation)).count
            predictedHeads += relations.reduce(0) { $0 + (heads[$1]?.count ?? 0) }
            goldHeads += Set(facts.map { "\($0.relation)\u{1}\($0.head)" }).count
            predictedTriples += triples.count
            predictedPairs += Set(triples.map { "\($0.relation)\u{1}\($0.head)" }).count
            // names outside the passage
            let matcher = SpanMatcher(passage: doc.passage)
            var written: [String] = heads.values.flatMap { $0 }
            for t in triples { written += [t.head, t.tail] }
            namesWritten += written.count
            namesOutsideDocument += written.filter { matcher.match($0) == .none }.count
        }
    }

    /// Shares of the gold facts still reachable after each stage.
    public var cascade: (relation: Double, head: Double, tail: Double) {
        let g = Double(max(1, goldFacts))
        return (Double(relationFound) / g, Double(headFound) / g, Double(tailFound) / g)
    }
}
