// Evaluators over a predictions file: AutoRE's triple F1 (and a strict variant), the official
// Re-DocRED entity-level F1 / Ign F1, per-stage scores and per-relation tables.
// Not an extractor: predictions come from a file (or the oracle) one JSON line per document.
import Foundation
import Support

/// Any JSON value; keeps the `raw` model outputs of a prediction line without imposing a shape.
public indirect enum JSONValue: Codable, Hashable, Sendable {
    case string(String), number(Double), bool(Bool), null, array([JSONValue]), object([String: JSONValue])
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

/// One line of a predictions file.
/// `{"title", "relations": [...], "heads": {relation: [...]}, "triples": [[h, r, t], ...], "raw": {...}}`
/// `unparsed` (optional) lists output lines the parser could not use; the strict metric counts them.
public struct PredictionRecord: Codable, Hashable, Sendable {
    public var title: String
    public var relations: [String]?
    public var heads: [String: [String]]?
    public var triples: [[String]]
    public var raw: JSONValue?
    public var unparsed: [String]?

    public init(title: String, relations: [String]? = nil, heads: [String: [String]]? = nil,
                triples: [Triple], raw: JSONValue? = nil, unparsed: [String]? = nil) {
        self.title = title; self.relations = relations; self.heads = heads
        self.triples = triples.map { [$0.head, $0.relation, $0.tail] }; self.raw = raw; self.unparsed = unparsed
    }

    /// Triples with exactly three strings; other rows are malformed (counted by the strict metric).
    public var tripleValues: [Triple] { triples.compactMap { $0.count == 3 ? Triple($0[0], $0[1], $0[2]) : nil } }
    public var malformedRows: Int { triples.filter { $0.count != 3 }.count }

    /// Relations: as written, else those of the triples.
    public var effectiveRelations: [String] {
        if let r = relations { return r }
        var out: [String] = []
        for t in tripleValues where !out.contains(t.relation) { out.append(t.relation) }
        return out
    }
    /// Heads per relation: as written, else those of the triples.
    public var effectiveHeads: [String: [String]] {
        if let h = heads { return h }
        var out: [String: [String]] = [:]
        // one entry per triple: repeats of a matched head are ignored by the scorer, and two heads
        // sharing a name need two entries
        for t in tripleValues { out[t.relation, default: []].append(t.head) }
        return out
    }

    public static func load(_ url: URL) throws -> [PredictionRecord] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw DocREError.missingFile(url.path) }
        let text = String(decoding: data, as: UTF8.self)
        var out: [PredictionRecord] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.isEmpty { continue }
            do { out.append(try JSONDecoder().decode(PredictionRecord.self, from: Data(l.utf8))) } catch let e as DecodingError {
                let d = DocumentLoader.describe(e, file: url.lastPathComponent)
                if case let .malformed(f, _, field, reason) = d {
                    throw DocREError.malformed(file: f + " line \(i + 1)", document: nil, field: field, reason: reason)
                }
                throw d
            }
        }
        return out
    }

    /// Writes the whole file (atomically: the previous file stays until the new one is complete).
    public static func write(_ records: [PredictionRecord], to url: URL) throws {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try JSONLines.encode(records, with: enc), to: url)
    }
}

/// True/false positive counts and gold count → P/R/F1 (in [0, 1]).
public struct PRF: Codable, Hashable, Sendable {
    public var tp = 0, fp = 0, gold = 0
    public init(tp: Int = 0, fp: Int = 0, gold: Int = 0) { self.tp = tp; self.fp = fp; self.gold = gold }
    public var predicted: Int { tp + fp }
    public var precision: Double { predicted == 0 ? 0 : Double(tp) / Double(predicted) }
    public var recall: Double { gold == 0 ? 0 : Double(tp) / Double(gold) }
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
    public static func + (a: PRF, b: PRF) -> PRF { PRF(tp: a.tp + b.tp, fp: a.fp + b.fp, gold: a.gold + b.gold) }
}

public enum Metric: String, CaseIterable, Sendable, Codable { case autore, strict, official, stages }

/// How the official metric links a predicted name to gold entity indices.
public enum EntityLinking: String, CaseIterable, Sendable, Codable {
    /// every entity having a mention with exactly that name (ambiguous names link to several)
    case all
    /// the first entity (vertexSet order) having it
    case first
}

/// Scores of one metric: the micro total, optional extra lines (Ign F1, stages), per-relation rows.
public struct Scores: Codable, Sendable {
    public var metric: Metric
    public var total: PRF
    /// Named extra scores: "ign" (official), "relations" / "heads" / "facts" (stages).
    public var extra: [String: PRF] = [:]
    /// Official Ign F1 components (precision over non-train facts), as the benchmark defines them.
    public var ignF1: Double?
    public var ignPrecision: Double?
    public var perRelation: [String: PRF] = [:]
    /// The counts of each gold document in the evaluator's order (AutoRE scoring), for paired tests
    /// between systems scored on the same documents (`PairedBootstrap`). Absent in files written before.
    public var perDocument: [PRF]?
    public var notes: [String] = []
}

/// Evaluates predictions against gold documents (matched by title; a missing document predicts nothing).
///
///     let ev = Evaluator(documents: test, catalogue: .standard)
///     let s = ev.autore(preds)            // s.total.f1
///     let o = ev.official(preds, trainFacts: Evaluator.trainFacts(train, catalogue: .standard))
public struct Evaluator: Sendable {
    public let documents: [Document]
    public let catalogue: RelationCatalogue
    public init(documents: [Document], catalogue: RelationCatalogue = .standard) {
        self.documents = documents; self.catalogue = catalogue
    }

    func byTitle(_ preds: [PredictionRecord]) -> [String: PredictionRecord] {
        var m: [String: PredictionRecord] = [:]
        for p in preds where m[p.title] == nil { m[p.title] = p }
        return m
    }

    /// Predicted triples with relation canonicalised and names normalised, in order, repeats kept
    /// (a repeat may name a second entity with the same name; a repeat of a matched fact is ignored).
    /// Returns (triples, count of rows whose relation is not in the catalogue or that are malformed).
    func cleanTriples(_ p: PredictionRecord?) -> (triples: [Triple], invalid: Int) {
        guard let p = p else { return ([], 0) }
        var out: [Triple] = [], invalid = p.malformedRows
        for t in p.tripleValues {
            guard let r = catalogue.canonical(t.relation) else { invalid += 1; continue }
            out.append(Triple(Text.normalised(t.head), r, Text.normalised(t.tail)))
        }
        return (out, invalid)
    }

    // MARK: AutoRE

    /// AutoRE scoring. Each label is a group of every head-name × tail-name combination; a predicted
    /// triple equal to a combination of an unconsumed group is a TP and consumes it; a hit on an
    /// already consumed group is neither TP nor FP; anything else is an FP. Recall over labels.
    /// Predictions are scored in order, repeats included; relations with unknown names count as FPs.
    /// `strict`: also every unparsed output line (`unparsed`) and malformed row is an FP.
    /// `relations`: score only the gold facts and the predicted triples of these relations (canonical
    /// names); rows that name no catalogue relation are then left out too.
    public func autore(_ preds: [PredictionRecord], strict: Bool = false, relations: Set<String>? = nil) -> Scores {
        let pm = byTitle(preds)
        var per: [String: PRF] = [:], perDocument: [PRF] = []
        for doc in documents {
            var counts = PRF()
            defer { perDocument.append(counts) }
            let ents = doc.entities
            let facts = ((try? doc.facts(catalogue)) ?? []).filter { relations?.contains($0.relation) ?? true }
            let groups: [(Set<Triple>, String)] = facts.map { f in
                var s = Set<Triple>()
                for a in ents[f.head].names { for b in ents[f.tail].names {
                    s.insert(Triple(Text.normalised(a), f.relation, Text.normalised(b)))
                } }
                return (s, f.relation)
            }
            var consumed = [Bool](repeating: false, count: groups.count)
            for f in facts { per[f.relation, default: PRF()].gold += 1 }
            counts.gold += facts.count
            var (triples, invalid) = cleanTriples(pm[doc.title])
            if let relations { triples.removeAll { !relations.contains($0.relation) }; invalid = 0 }
            counts.fp += invalid
            if strict { counts.fp += pm[doc.title]?.unparsed?.count ?? 0 }
            for t in triples {
                if let g = groups.indices.first(where: { !consumed[$0] && groups[$0].0.contains(t) }) {
                    consumed[g] = true; counts.tp += 1; per[t.relation, default: PRF()].tp += 1
                } else if groups.indices.contains(where: { consumed[$0] && groups[$0].0.contains(t) }) {
                    continue
                } else {
                    counts.fp += 1; per[t.relation, default: PRF()].fp += 1
                }
            }
        }
        var s = Scores(metric: strict ? .strict : .autore, total: perDocument.reduce(PRF(), +))
        s.perRelation = per
        s.perDocument = perDocument
        return s
    }

    // MARK: official

    /// Facts of a training split as (head mention name, tail mention name, P-id) for Ign F1
    /// (DocRED `gen_train_facts`: every mention pair of every label).
    public static func trainFacts(_ train: [Document]) -> Set<[String]> {
        var s = Set<[String]>()
        for d in train { for l in d.labels {
            for a in d.vertexSet[l.h] { for b in d.vertexSet[l.t] { s.insert([a.name, b.name, l.r]) } }
        } }
        return s
    }

    /// Submission rows (title, h_idx, t_idx, r as P-id) after linking names to entities by exact
    /// mention name (whitespace-normalised). Unlinkable triples are returned separately.
    public func submission(_ preds: [PredictionRecord], linking: EntityLinking = .all) -> (rows: [SubmissionRow], unlinked: Int) {
        let pm = byTitle(preds)
        var rows: [SubmissionRow] = [], seen = Set<SubmissionRow>(), unlinked = 0
        for doc in documents {
            var index: [String: [Int]] = [:]
            for e in doc.entities { for n in e.names {
                let k = Text.normalised(n)
                if !(index[k] ?? []).contains(e.index) { index[k, default: []].append(e.index) }
            } }
            func link(_ s: String) -> [Int] {
                let c = index[s] ?? []
                return linking == .first ? Array(c.prefix(1)) : c
            }
            let (triples, invalid) = cleanTriples(pm[doc.title])
            unlinked += invalid
            for t in triples {
                let hs = link(t.head), ts = link(t.tail)
                guard !hs.isEmpty, !ts.isEmpty, let pid = catalogue.id(forName: t.relation) else { unlinked += 1; continue }
                for h in hs { for tt in ts where h != tt {
                    let row = SubmissionRow(title: doc.title, h_idx: h, t_idx: tt, r: pid)
                    if seen.insert(row).inserted { rows.append(row) }
                } }
            }
        }
        return (rows, unlinked)
    }

    /// Entity-level P/R/F1 and Ign F1 as in the DocRED/Re-DocRED evaluation script: a row is correct
    /// if (title, r, h_idx, t_idx) is labelled; Ign precision removes correct rows whose mention-name
    /// fact occurs in `trainFacts` from numerator and denominator; recall is over all labels.
    /// Unlinkable predicted triples count as wrong rows (they have no index to submit).
    public func official(_ preds: [PredictionRecord], trainFacts: Set<[String]>, linking: EntityLinking = .all) -> Scores {
        let (rows, unlinked) = submission(preds, linking: linking)
        var gold = Set<SubmissionRow>(), per: [String: PRF] = [:]
        var docByTitle: [String: Document] = [:]
        for d in documents {
            docByTitle[d.title] = d
            for l in d.labels {
                gold.insert(SubmissionRow(title: d.title, h_idx: l.h, t_idx: l.t, r: l.r))
            }
        }
        let totLabels = documents.reduce(0) { $0 + $1.labels.count }
        for d in documents { for l in d.labels { per[catalogue.name(forID: l.r) ?? l.r, default: PRF()].gold += 1 } }
        var correct = 0, correctInTrain = 0
        for row in rows {
            let rn = catalogue.name(forID: row.r) ?? row.r
            guard gold.contains(row) else { per[rn, default: PRF()].fp += 1; continue }
            correct += 1; per[rn, default: PRF()].tp += 1
            let d = docByTitle[row.title]!
            var inTrain = false
            for a in d.vertexSet[row.h_idx] where !inTrain { for b in d.vertexSet[row.t_idx] where trainFacts.contains([a.name, b.name, row.r]) {
                inTrain = true; break
            } }
            if inTrain { correctInTrain += 1 }
        }
        let submitted = rows.count + unlinked
        var s = Scores(metric: .official, total: PRF(tp: correct, fp: submitted - correct, gold: totLabels))
        let ignP = submitted - correctInTrain == 0 ? 0 : Double(correct - correctInTrain) / Double(submitted - correctInTrain)
        let r = s.total.recall
        s.ignPrecision = ignP
        s.ignF1 = ignP + r == 0 ? 0 : 2 * ignP * r / (ignP + r)
        s.perRelation = per
        s.notes.append("linking: \(linking.rawValue); unlinked predicted triples: \(unlinked); correct rows seen in train facts: \(correctInTrain)")
        return s
    }

    // MARK: stages

    /// Per-stage scores. relations: predicted relation set vs gold set per document.
    /// heads (given gold relations): predicted heads of each gold relation vs its gold head entities,
    /// a name hitting an unconsumed entity having it is a TP, a repeat is ignored, else FP.
    /// facts (given gold relation and head): predicted triples whose (relation, head name) belongs to
    /// a gold (relation, head entity) pair, tails scored the same way. Predictions for non-gold
    /// relations/pairs are outside these conditional scores.
    public func stages(_ preds: [PredictionRecord]) -> Scores {
        let pm = byTitle(preds)
        var rel = PRF(), hd = PRF(), fc = PRF(), per: [String: PRF] = [:]
        for doc in documents {
            guard let gold = try? GoldView(doc, catalogue: catalogue) else { continue }
            let p = pm[doc.title]
            let names = gold.entities.map { Set($0.names.map(Text.normalised)) }
            // relations
            let goldRels = Set(gold.relations)
            var predRels = Set<String>()
            var invalid = 0
            for r in p?.effectiveRelations ?? [] { if let c = catalogue.canonical(r) { predRels.insert(c) } else { invalid += 1 } }
            rel.gold += goldRels.count; rel.tp += predRels.intersection(goldRels).count
            rel.fp += predRels.subtracting(goldRels).count + invalid
            for r in goldRels { per[r, default: PRF()].gold += 1 }
            for r in predRels { if goldRels.contains(r) { per[r, default: PRF()].tp += 1 } else { per[r, default: PRF()].fp += 1 } }
            // heads
            var predHeads: [String: [String]] = [:]
            for (r, hs) in p?.effectiveHeads ?? [:] { if let c = catalogue.canonical(r) { predHeads[c, default: []] += hs.map(Text.normalised) } }
            for r in gold.relations {
                let ents = gold.heads[r] ?? []
                hd.gold += ents.count
                hd.add(predicted: predHeads[r] ?? [], entities: ents, names: names)
            }
            // facts
            let triples = cleanTriples(p).triples
            for r in gold.relations {
                let heads = gold.heads[r] ?? []
                // group predicted tails by the gold head entities their head name belongs to
                var consumed = Set<[Int]>()
                for h in heads { fc.gold += gold.tails[r]?[h]?.count ?? 0 }
                for t in triples where t.relation == r {
                    let owners = heads.filter { names[$0].contains(t.head) }
                    if owners.isEmpty { continue }
                    var hit: [Int]? = nil, repeatHit = false
                    for h in owners { for tl in gold.tails[r]?[h] ?? [] where names[tl].contains(t.tail) {
                        if consumed.contains([h, tl]) { repeatHit = true } else if hit == nil { hit = [h, tl] }
                    } }
                    if let k = hit { consumed.insert(k); fc.tp += 1 } else if !repeatHit { fc.fp += 1 }
                }
            }
        }
        var s = Scores(metric: .stages, total: fc)
        s.extra = ["relations": rel, "heads": hd, "facts": fc]
        s.perRelation = per
        s.notes.append("total = fact stage given gold (relation, head); per-relation rows = relation stage")
        return s
    }
}

extension PRF {
    /// Scores predicted names against gold entity indices: a name of an unconsumed entity is a TP and
    /// consumes it; a name of an already consumed entity is ignored; other names are FPs.
    mutating func add(predicted: [String], entities: [Int], names: [Set<String>]) {
        var consumed = Set<Int>()
        for n in predicted {
            let owners = entities.filter { names[$0].contains(n) }
            if let e = owners.first(where: { !consumed.contains($0) }) { consumed.insert(e); tp += 1 }
            else if owners.isEmpty { fp += 1 }
        }
    }
}

/// A row of the benchmark's submission file.
public struct SubmissionRow: Codable, Hashable, Sendable {
    public var title: String
    public var h_idx: Int
    public var t_idx: Int
    public var r: String
}
