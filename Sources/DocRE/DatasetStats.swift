// Corpus statistics of a split: the numbers in Docs/data.md and `autore data stats`.
// Lengths are in words (dataset tokens); model tokens come from a caller-supplied counter.
import Foundation

public struct Summary: Codable, Hashable, Sendable {
    public var mean: Double, min: Int, max: Int, median: Int
    public init(_ xs: [Int]) {
        let s = xs.sorted()
        mean = s.isEmpty ? 0 : Double(s.reduce(0, +)) / Double(s.count)
        min = s.first ?? 0; max = s.last ?? 0; median = s.isEmpty ? 0 : s[s.count / 2]
    }
}

public struct DatasetStats: Codable, Sendable {
    public var documents = 0
    /// Labelled triples (one per label, as in the published statistics).
    public var triples = 0
    public var entities = 0
    public var mentions = 0
    public var documentsWithoutLabels = 0
    /// Distinct relations per document.
    public var relationsPerDocument = Summary([])
    /// Distinct head entities per (document, relation with ≥ 1 fact).
    public var headsPerDocumentRelation = Summary([])
    /// Facts per (document, relation, head).
    public var factsPerHead = Summary([])
    public var passageWords = Summary([])
    /// Passage length under the base model's tokenizer; nil until a `tokenCount` is supplied.
    public var passageTokens: Summary?
    /// Mentions whose `name` is not a verbatim substring of the space-joined passage ("55.5%" vs "55.5 %").
    public var mentionNamesNotVerbatim = 0
    /// Of those, names that also fail to match when whitespace is ignored.
    public var mentionNamesNotFoundIgnoringSpaces = 0
    /// Mentions whose name differs from the tokens its `pos` covers, joined by spaces.
    public var mentionNamesDifferingFromTokens = 0
    /// Entities whose mention names are shared with another entity of the same document.
    public var entitiesWithSharedNames = 0
    /// Labels per relation name.
    public var triplesPerRelation: [String: Int] = [:]

    /// - Parameter tokenCount: hook for the base tokenizer (tokens of a string); nil leaves tokens out.
    public init(documents docs: [Document], catalogue: RelationCatalogue = .standard, tokenCount: ((String) -> Int)? = nil) {
        documents = docs.count
        var rels: [Int] = [], heads: [Int] = [], fph: [Int] = [], words: [Int] = [], toks: [Int] = []
        for d in docs {
            triples += d.labels.count
            entities += d.vertexSet.count
            if d.labels.isEmpty { documentsWithoutLabels += 1 }
            let passage = d.passage, sq = Text.squeezed(passage)
            words.append(d.wordCount)
            if let tc = tokenCount { toks.append(tc(passage)) }
            var nameOwners: [String: Set<Int>] = [:]
            for (i, ms) in d.vertexSet.enumerated() { for m in ms {
                mentions += 1
                nameOwners[m.name, default: []].insert(i)
                if !passage.contains(m.name) {
                    mentionNamesNotVerbatim += 1
                    if !sq.contains(Text.squeezed(m.name)) { mentionNamesNotFoundIgnoringSpaces += 1 }
                }
                if m.sentID < d.sents.count, m.pos.count == 2, m.pos[0] >= 0, m.pos[1] <= d.sents[m.sentID].count, m.pos[0] < m.pos[1],
                   d.sents[m.sentID][m.pos[0]..<m.pos[1]].joined(separator: " ") != m.name { mentionNamesDifferingFromTokens += 1 }
            } }
            var shared = Set<Int>()
            for (_, o) in nameOwners where o.count > 1 { shared.formUnion(o) }
            entitiesWithSharedNames += shared.count
            var byRel: [String: [Int: Int]] = [:]
            for l in d.labels {
                let r = catalogue.name(forID: l.r) ?? l.r
                triplesPerRelation[r, default: 0] += 1
                byRel[r, default: [:]][l.h, default: 0] += 1
            }
            rels.append(byRel.count)
            for (_, hs) in byRel { heads.append(hs.count); fph += hs.values }
        }
        relationsPerDocument = Summary(rels)
        headsPerDocumentRelation = Summary(heads)
        factsPerHead = Summary(fph)
        passageWords = Summary(words)
        passageTokens = tokenCount == nil ? nil : Summary(toks)
    }
}
