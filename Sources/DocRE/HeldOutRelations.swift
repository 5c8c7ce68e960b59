// Relations kept out of training, to measure whether a model extracts a relation it was never trained on
// (AutoRE's authors state it cannot, without measuring it): the choice of those relations, the training
// view of a document without them, and F1 on the seen and on the held-out relations.
import Support

/// Which relations training never mentions: named ones, or `auto` picks of middle frequency.
public enum HeldOutRelations {
    /// `count` relations of middle frequency among the facts of `training`, stratified: relations with at
    /// least one training fact are ranked by fact count, the most and the least frequent quarter set aside,
    /// the rest cut into `count` equal strata by rank, and one relation drawn from each with `seed`.
    /// Returns canonical names, in rank order (most frequent first). Deterministic for the same inputs.
    public static func auto(_ count: Int, seed: UInt64, training: [Document], catalogue: RelationCatalogue) throws -> [String] {
        var freq: [String: Int] = [:]
        for d in training { for f in try d.facts(catalogue) { freq[f.relation, default: 0] += 1 } }
        // ties broken by catalogue order, so that the ranking does not depend on dictionary order
        let order = Dictionary(uniqueKeysWithValues: catalogue.names.enumerated().map { ($1, $0) })
        let ranked = freq.keys.sorted { (freq[$0]!, -(order[$0] ?? 0)) > (freq[$1]!, -(order[$1] ?? 0)) }
        let quarter = ranked.count / 4
        let middle = Array(ranked[quarter..<(ranked.count - quarter)])
        guard count > 0, count <= middle.count else {
            throw DocREError.invalidOption("held-out relations: auto \(count) needs 1 to \(middle.count) relations of middle frequency (the training documents have \(ranked.count) relations with facts)")
        }
        var g = SplitMix64(seed: seed)
        return (0..<count).map { k in
            let lo = k * middle.count / count, hi = (k + 1) * middle.count / count
            return middle[lo + Int.random(in: 0..<(hi - lo), using: &g)]
        }
    }

    /// Canonical names of `written` (P-ids such as `P17` or relation names), each checked against `catalogue`.
    public static func resolve(_ written: [String], catalogue: RelationCatalogue) throws -> [String] {
        var out: [String] = []
        for w in written {
            guard let name = catalogue.name(forID: w) ?? catalogue.canonical(w) else {
                throw DocREError.invalidOption("held-out relation '\(w)' is neither a P-id nor a relation name of the catalogue")
            }
            if !out.contains(name) { out.append(name) }
        }
        return out
    }
}

extension GoldView {
    /// This view without the facts of `relations`: their names leave the relation list, and with them
    /// their subjects and objects (an entity stays when another relation names it).
    public func removing(_ relations: Set<String>) -> GoldView {
        guard !relations.isEmpty else { return self }
        var v = self
        v.relations.removeAll { relations.contains($0) }
        for r in relations { v.heads[r] = nil; v.tails[r] = nil }
        v.facts.removeAll { relations.contains($0.relation) }
        return v
    }
}

/// F1 on the relations training saw and on those it never saw, on one split.
public struct UnseenRelationScores: Codable, Sendable, Equatable {
    /// The held-out relations (canonical names).
    public var heldOut: [String]
    public var seen: PRF
    public var unseen: PRF
    /// 95% bootstrap intervals of the two F1s over the split's documents.
    public var seenInterval: ClosedRange<Double>?
    public var unseenInterval: ClosedRange<Double>?
    /// Documents whose gold facts include a held-out relation, and how many of those documents have at
    /// least one predicted triple or relations answer naming one.
    public var documentsWithUnseen: Int
    public var documentsProducingUnseen: Int
    /// Predicted triples, and relations answers (paradigms that list relations), naming a held-out relation,
    /// over all documents.
    public var unseenTriplesPredicted: Int
    public var unseenRelationsPredicted: Int

    public init(heldOut: [String], documents: [Document], predictions: [PredictionRecord], catalogue: RelationCatalogue) {
        let held = Set(heldOut)
        let ev = Evaluator(documents: documents, catalogue: catalogue)
        let s = ev.autore(predictions, relations: Set(catalogue.names).subtracting(held))
        let u = ev.autore(predictions, relations: held)
        self.heldOut = heldOut
        seen = s.total; unseen = u.total
        seenInterval = PairedBootstrap.f1Interval(s.perDocument ?? [])
        unseenInterval = PairedBootstrap.f1Interval(u.perDocument ?? [])
        var byTitle: [String: PredictionRecord] = [:]
        for p in predictions where byTitle[p.title] == nil { byTitle[p.title] = p }
        var withUnseen = 0, producing = 0, triples = 0, relations = 0
        for d in documents {
            let gold = ((try? d.facts(catalogue)) ?? []).contains { held.contains($0.relation) }
            let p = byTitle[d.title]
            let t = p?.tripleValues.filter { catalogue.canonical($0.relation).map(held.contains) ?? false }.count ?? 0
            let r = p?.relations?.filter { catalogue.canonical($0).map(held.contains) ?? false }.count ?? 0
            triples += t; relations += r
            if gold { withUnseen += 1; if t + r > 0 { producing += 1 } }
        }
        documentsWithUnseen = withUnseen; documentsProducingUnseen = producing
        unseenTriplesPredicted = triples; unseenRelationsPredicted = relations
    }
}
