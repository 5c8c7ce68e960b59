// Paradigms (D_F, D_RS_F, D_R_F, D_R_H_F, D_R_H_F_desc) as builders of (shared prefix, question,
// answer) examples per stage. One code path; paradigms differ only in which queries they ask.
// Not a tokenizer or chat template: those wrap `prefix + question` later (FineTuning, AutoRE).
import Foundation
import Support

/// The extraction paradigms compared in AutoRE (Xue et al. 2024, §3 and Table 3).
public enum Paradigm: String, CaseIterable, Sendable, Codable {
    /// document → all triplets
    case D_F
    /// document → relation list; document + relation list → all triplets
    case D_RS_F
    /// document → relations; document + relation → its triplets
    case D_R_F
    /// document → relations; + relation → heads; + relation + head → triplets (RHF)
    case D_R_H_F
    /// RHF with relation descriptions in the head and fact questions
    case D_R_H_F_desc

    public var stages: [Stage] {
        switch self {
        case .D_F: return [.facts]
        case .D_RS_F, .D_R_F: return [.relations, .facts]
        case .D_R_H_F, .D_R_H_F_desc: return [.relations, .heads, .facts]
        }
    }
    /// Description set used when the options leave it unset.
    public var defaultDescriptions: DescriptionSet { self == .D_R_H_F_desc ? .own : .none }
}

public enum Stage: String, CaseIterable, Sendable, Codable { case relations, heads, facts }

/// One question a paradigm asks about a document.
public enum StageQuery: Hashable, Sendable {
    case relations
    case heads(relation: String)
    case allFacts
    case factsGivenRelations([String])
    case factsOfRelation(String)
    case factsOfHead(relation: String, head: String)

    public var stage: Stage {
        switch self {
        case .relations: return .relations
        case .heads: return .heads
        default: return .facts
        }
    }
    public var relation: String? {
        switch self {
        case .heads(let r), .factsOfRelation(let r), .factsOfHead(let r, _): return r
        default: return nil
        }
    }
    public var head: String? { if case .factsOfHead(_, let h) = self { return h } else { return nil } }
}

/// `documentFirst`: the passage opens every prompt and the question follows, so every question about
/// one document shares `prefix` (one KV cache). `original`: the relation-first wording of the AutoRE
/// templates, where the question precedes the passage and nothing is shared.
public enum PromptOrder: String, CaseIterable, Sendable, Codable { case documentFirst, original }

public struct ParadigmOptions: Sendable {
    /// nil: the paradigm's default (own descriptions for D_R_H_F_desc, none otherwise).
    public var descriptions: DescriptionSet?
    public var order: PromptOrder = .documentFirst
    /// Extra copies of each multi-line answer with its lines shuffled (relation/head/triplet order).
    public var augmentCopies: Int = 0
    public var seed: UInt64 = 0
    /// Answers also list every distinct mention name (heads) and name combination (triplets, ≤ 3 per side).
    public var aliasExpansion: Bool = false
    /// Relations (canonical names) no training example mentions: gone from relation lists, no subject or
    /// fact question about them, none of their facts in any answer (`HeldOutRelations`).
    public var heldOutRelations: Set<String> = []
    public init(descriptions: DescriptionSet? = nil, order: PromptOrder = .documentFirst,
                augmentCopies: Int = 0, seed: UInt64 = 0, aliasExpansion: Bool = false, heldOutRelations: Set<String> = []) {
        self.descriptions = descriptions; self.order = order; self.augmentCopies = augmentCopies
        self.seed = seed; self.aliasExpansion = aliasExpansion; self.heldOutRelations = heldOutRelations
    }
}

/// One training/evaluation example. The model sees `prefix + question` and should write `answer`.
/// With `.documentFirst`, `prefix` is byte-identical for every question about one document.
public struct StageExample: Codable, Hashable, Sendable {
    public var title: String
    public var paradigm: Paradigm
    public var stage: Stage
    public var prefix: String
    public var question: String
    public var answer: String
    public var relation: String?
    public var head: String?
    /// 0 for the gold order; 1… for shuffled copies.
    public var copy: Int
    public var descriptions: DescriptionSet
    public var order: PromptOrder

    public var prompt: String { prefix + question }
}

/// Triplet lines: `["head", "relation", "tail"]` with JSON string escaping.
public enum TripletFormat {
    public static func render(_ t: Triple) -> String {
        "[" + [t.head, t.relation, t.tail].map(quote).joined(separator: ", ") + "]"
    }
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// The gold structure a paradigm renders: relations in label order, heads per relation, tails per
/// (relation, head), all as entity indices.
public struct GoldView: Sendable {
    public var entities: [Entity]
    public var relations: [String]
    public var heads: [String: [Int]]
    public var tails: [String: [Int: [Int]]]
    public var facts: [GoldFact]

    public init(_ doc: Document, catalogue: RelationCatalogue) throws {
        entities = doc.entities
        facts = try doc.facts(catalogue)
        relations = []; heads = [:]; tails = [:]
        for f in facts {
            if heads[f.relation] == nil { relations.append(f.relation); heads[f.relation] = [] }
            if !heads[f.relation]!.contains(f.head) { heads[f.relation]!.append(f.head) }
            var byHead = tails[f.relation] ?? [:]
            var ts = byHead[f.head] ?? []
            if !ts.contains(f.tail) { ts.append(f.tail) }
            byHead[f.head] = ts
            tails[f.relation] = byHead
        }
    }
}

/// Builds the (prefix, question, answer) examples of a paradigm.
///
///     let b = try ParadigmBuilder(paradigm: .D_R_H_F, catalogue: .standard)
///     let ex = try b.examples(for: doc)                    // gold examples, all stages
///     let (p, q) = try b.prompt(doc, .heads(relation: "country"))   // for extraction
public struct ParadigmBuilder: Sendable {
    public let paradigm: Paradigm
    public let catalogue: RelationCatalogue
    public let descriptions: RelationDescriptions
    public let options: ParadigmOptions

    /// Throws if the options ask for a description set other than the one passed.
    public init(paradigm: Paradigm, catalogue: RelationCatalogue = .standard,
                descriptions: RelationDescriptions? = nil, options: ParadigmOptions = ParadigmOptions()) throws {
        self.paradigm = paradigm; self.catalogue = catalogue; self.options = options
        let want = options.descriptions ?? paradigm.defaultDescriptions
        if let d = descriptions {
            guard d.set == want else {
                throw DocREError.invalidOption("descriptions '\(d.set.rawValue)' passed, options ask for '\(want.rawValue)'")
            }
            self.descriptions = d
        } else {
            self.descriptions = try RelationDescriptions.load(want)
        }
    }

    // MARK: prompts

    static let instruction = "Read the passage and answer the question about the relations between entities that it expresses."
    static let tripletRule = "Write one triplet per line as [\"subject\", \"relation\", \"object\"], using names as they appear in the passage."

    /// The part shared by every question about `doc` (document-first order).
    public func prefix(for doc: Document) -> String {
        "\(Self.instruction)\nPassage: \(doc.passage)\n"
    }

    private func relationLine(_ r: String) throws -> String {
        guard catalogue.canonical(r) != nil else { throw DocREError.unknownRelation(r) }
        if let d = try descriptions.description(of: r) { return "\"\(r)\" (\(d.promptText))" }
        return "\"\(r)\""
    }

    /// The stage question (document-first order); ends with "Answer:\n".
    public func question(_ q: StageQuery) throws -> String {
        switch q {
        case .relations:
            return "Question: Which relations does the passage express? Write one relation name per line.\nAnswer:\n"
        case .heads(let r):
            return "Question: Which entities are subjects of the relation \(try relationLine(r))? Write one subject per line in double quotes.\nAnswer:\n"
        case .allFacts:
            return "Question: Which facts does the passage express? \(Self.tripletRule)\nAnswer:\n"
        case .factsGivenRelations(let rs):
            let lines = try rs.map { "- " + (try relationLine($0)) }.joined(separator: "\n")
            return "Question: The passage expresses these relations:\n\(lines)\nWhich facts of these relations does it express? \(Self.tripletRule)\nAnswer:\n"
        case .factsOfRelation(let r):
            return "Question: Which facts of the relation \(try relationLine(r)) does the passage express? \(Self.tripletRule)\nAnswer:\n"
        case let .factsOfHead(r, h):
            return "Question: Which facts of the relation \(try relationLine(r)) have the subject \(TripletFormat.quote(h))? \(Self.tripletRule)\nAnswer:\n"
        }
    }

    /// Relation-first wording (the AutoRE templates' order): the question, then the passage.
    private func originalPrompt(_ doc: Document, _ q: StageQuery) throws -> String {
        let task: String
        switch q {
        case .relations: task = "List the relations that the passage below expresses, one relation name per line."
        case .heads(let r): task = "Given the relation \(try relationLine(r)), list the entities in the passage below that are its subjects, one per line in double quotes."
        case .allFacts: task = "List the facts that the passage below expresses. \(Self.tripletRule)"
        case .factsGivenRelations(let rs):
            task = "Given the relations\n" + (try rs.map { "- " + (try relationLine($0)) }.joined(separator: "\n"))
                + "\nlist the facts of these relations that the passage below expresses. \(Self.tripletRule)"
        case .factsOfRelation(let r): task = "Given the relation \(try relationLine(r)), list its facts that the passage below expresses. \(Self.tripletRule)"
        case let .factsOfHead(r, h): task = "Given the relation \(try relationLine(r)) and the subject \(TripletFormat.quote(h)), list the facts that the passage below expresses. \(Self.tripletRule)"
        }
        return "\(task)\nPassage: \(doc.passage)\n"
    }

    /// (prefix, question) for one query. With `.documentFirst`, prefix == `prefix(for: doc)`.
    /// With `.original`, the whole relation-first prompt is the prefix and the question is "Answer:\n".
    public func prompt(_ doc: Document, _ q: StageQuery) throws -> (prefix: String, question: String) {
        switch options.order {
        case .documentFirst: return (prefix(for: doc), try question(q))
        case .original: return (try originalPrompt(doc, q), "Answer:\n")
        }
    }

    // MARK: gold answers

    /// The queries the paradigm asks given gold structure, each with its gold answer lines.
    public func goldQueries(_ gold: GoldView) -> [(query: StageQuery, lines: [String])] {
        let e = gold.entities
        func headLines(_ idx: Int) -> [String] {
            // quoted like a JSON string, so names such as "1. FC Köln" or "(Untitled)" survive parsing
            (options.aliasExpansion ? e[idx].names.map(Text.normalised) : [Text.normalised(e[idx].canonicalName)])
                .map(TripletFormat.quote)
        }
        func tripletLines(_ r: String, _ h: Int, _ t: Int, fixedHead: String? = nil) -> [String] {
            let hn = fixedHead ?? Text.normalised(e[h].canonicalName), tn = Text.normalised(e[t].canonicalName)
            var lines = [TripletFormat.render(Triple(hn, r, tn))]
            guard options.aliasExpansion else { return lines }
            let hs = fixedHead.map { [$0] } ?? Array(e[h].names.map(Text.normalised).prefix(3))
            for a in hs { for b in e[t].names.map(Text.normalised).prefix(3) {
                let l = TripletFormat.render(Triple(a, r, b))
                if !lines.contains(l) { lines.append(l) }
            } }
            return lines
        }
        func factsLines(_ relations: [String]) -> [String] {
            var out: [String] = []
            for r in relations { for h in gold.heads[r] ?? [] { for t in gold.tails[r]?[h] ?? [] {
                out += tripletLines(r, h, t)
            } } }
            return out
        }
        var qs: [(StageQuery, [String])] = []
        switch paradigm {
        case .D_F:
            qs.append((.allFacts, factsLines(gold.relations)))
        case .D_RS_F:
            qs.append((.relations, gold.relations))
            qs.append((.factsGivenRelations(gold.relations), factsLines(gold.relations)))
        case .D_R_F:
            qs.append((.relations, gold.relations))
            for r in gold.relations { qs.append((.factsOfRelation(r), factsLines([r]))) }
        case .D_R_H_F, .D_R_H_F_desc:
            qs.append((.relations, gold.relations))
            for r in gold.relations { qs.append((.heads(relation: r), (gold.heads[r] ?? []).flatMap(headLines))) }
            // one fact question per distinct head *name*: entities sharing a name share the question
            for r in gold.relations {
                var order: [String] = [], lines: [String: [String]] = [:]
                for h in gold.heads[r] ?? [] {
                    let hn = Text.normalised(e[h].canonicalName)
                    if lines[hn] == nil { order.append(hn); lines[hn] = [] }
                    lines[hn]! += (gold.tails[r]?[h] ?? []).flatMap { tripletLines(r, h, $0, fixedHead: hn) }
                }
                for hn in order { qs.append((.factsOfHead(relation: r, head: hn), lines[hn]!)) }
            }
        }
        return qs.map { (query: $0.0, lines: $0.1) }
    }

    /// Gold examples for `doc` (optionally only some stages), with shuffled copies when asked; the held-out
    /// relations of the options are left out entirely.
    public func examples(for doc: Document, stages: Set<Stage>? = nil) throws -> [StageExample] {
        let gold = try GoldView(doc, catalogue: catalogue).removing(options.heldOutRelations)
        var out: [StageExample] = []
        for (q, lines) in goldQueries(gold) where stages?.contains(q.stage) ?? true {
            let (p, qu) = try prompt(doc, q)
            func make(_ ls: [String], _ copy: Int) -> StageExample {
                StageExample(title: doc.title, paradigm: paradigm, stage: q.stage, prefix: p, question: qu,
                             answer: ls.joined(separator: "\n"), relation: q.relation, head: q.head, copy: copy,
                             descriptions: descriptions.set, order: options.order)
            }
            out.append(make(lines, 0))
            if lines.count >= 2 && options.augmentCopies > 0 {
                var rng = SplitMix64(seed: options.seed ^ fnv1a(doc.title + "\u{1}" + q.stage.rawValue + "\u{1}" + (q.relation ?? "") + "\u{1}" + (q.head ?? "")))
                for k in 1...options.augmentCopies {
                    var s = lines
                    s.shuffle(using: &rng)
                    out.append(make(s, k))
                }
            }
        }
        return out
    }
}

/// FNV-1a 64-bit: a stable string hash (Swift's `hashValue` is seeded per process).
public func fnv1a(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

extension Paradigm {
    /// The heads questions that follow a document's parsed relations (one per relation, in order); nil when
    /// the paradigm asks no heads questions and the facts questions follow the relations directly.
    public func headQuestions(relations: [String]) -> [StageQuery]? {
        guard stages.contains(.heads) else { return nil }
        return relations.map { .heads(relation: $0) }
    }

    /// The facts questions of a document, from what the earlier stages answered: its parsed relations and,
    /// where the paradigm asks them, the subjects listed for each relation.
    ///
    ///     D_F               → one question for all facts
    ///     D_RS_F            → one question for the facts of all the relations (none without relations)
    ///     D_R_F             → one question per relation
    ///     D_R_H_F(_desc)    → one question per (relation, subject), relations in order
    public func factQuestions(relations: [String], heads: [String: [String]]) -> [StageQuery] {
        switch self {
        case .D_F: return [.allFacts]
        case .D_RS_F: return relations.isEmpty ? [] : [.factsGivenRelations(relations)]
        case .D_R_F: return relations.map { .factsOfRelation($0) }
        case .D_R_H_F, .D_R_H_F_desc: return relations.flatMap { r in (heads[r] ?? []).map { .factsOfHead(relation: r, head: $0) } }
        }
    }
}
