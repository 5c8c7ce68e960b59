// Re-DocRED documents: decoding with precise errors, validation, passage text, entities and gold facts.
// Not a tokenizer: lengths in model tokens come from the caller through a `(String) -> Int` closure.
import Foundation

/// One error for a whole load: names the file, the document index and the field.
public enum DocREError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case malformed(file: String, document: Int?, field: String, reason: String)
    case unknownRelation(String)
    case missingDescription(relation: String, set: String)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .missingFile(let f): return "file not found: \(f)"
        case let .malformed(file, document, field, reason):
            let where_ = document.map { "document \($0), " } ?? ""
            return "\(file): \(where_)field '\(field)': \(reason)"
        case .unknownRelation(let r): return "unknown relation '\(r)'"
        case let .missingDescription(relation, set):
            return "relation '\(relation)' has no description in the '\(set)' set"
        case .invalidOption(let s): return s
        }
    }
}

/// One mention of an entity: `{name, sent_id, pos: [start, end), type}` (Re-DocRED / DocRED format).
public struct Mention: Codable, Hashable, Sendable {
    public var name: String
    public var sentID: Int
    public var pos: [Int]
    public var type: String

    enum CodingKeys: String, CodingKey { case name, sentID = "sent_id", pos, type }

    public init(name: String, sentID: Int, pos: [Int], type: String) {
        self.name = name; self.sentID = sentID; self.pos = pos; self.type = type
    }
}

/// One labelled fact: head entity index, tail entity index, Wikidata P-id, evidence sentences.
public struct Label: Codable, Hashable, Sendable {
    public var h: Int
    public var t: Int
    public var r: String
    public var evidence: [Int]

    enum CodingKeys: String, CodingKey { case h, t, r, evidence }

    public init(h: Int, t: Int, r: String, evidence: [Int] = []) {
        self.h = h; self.t = t; self.r = r; self.evidence = evidence
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        h = try c.decode(Int.self, forKey: .h)
        t = try c.decode(Int.self, forKey: .t)
        r = try c.decode(String.self, forKey: .r)
        evidence = try c.decodeIfPresent([Int].self, forKey: .evidence) ?? []
    }
}

/// A Re-DocRED document. `labels` may be absent in a file (an unlabelled split): it decodes as empty.
public struct Document: Codable, Hashable, Sendable {
    public var title: String
    public var sents: [[String]]
    public var vertexSet: [[Mention]]
    public var labels: [Label]

    enum CodingKeys: String, CodingKey { case title, sents, vertexSet, labels }

    public init(title: String, sents: [[String]], vertexSet: [[Mention]], labels: [Label]) {
        self.title = title; self.sents = sents; self.vertexSet = vertexSet; self.labels = labels
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        title = try c.decode(String.self, forKey: .title)
        sents = try c.decode([[String]].self, forKey: .sents)
        vertexSet = try c.decode([[Mention]].self, forKey: .vertexSet)
        labels = try c.decodeIfPresent([Label].self, forKey: .labels) ?? []
    }

    /// Passage text: every token joined by one space (sentences too). Mention names that are
    /// detokenised differently ("55.5%" for tokens "55.5 %") are not verbatim substrings; they are
    /// counted by `DatasetStats.mentionNamesNotVerbatim` and matched whitespace-insensitively.
    public var passage: String { sents.map { $0.joined(separator: " ") }.joined(separator: " ") }

    public var wordCount: Int { sents.reduce(0) { $0 + $1.count } }

    /// Entities in vertexSet order with their distinct mention names.
    public var entities: [Entity] {
        let squeezedPassage = Text.squeezed(passage)
        return vertexSet.enumerated().map { i, ms in
            var names: [String] = []
            for m in ms where !names.contains(m.name) { names.append(m.name) }
            // Where a mention's name differs from its tokens ("55.5%" for "55.5 %", or a name that is
            // not in the text at all), the token text is an extra name, so every entity has a name
            // that occurs in the passage.
            for m in ms {
                let span = spanText(m)
                if !span.isEmpty && !names.contains(span) { names.append(span) }
            }
            // The name written in answers: the first mention name found in the passage (ignoring
            // whitespace), else the first mention's token text.
            let canonical = names.first { squeezedPassage.contains(Text.squeezed($0)) } ?? names.first ?? ""
            return Entity(index: i, names: names, type: ms.first?.type ?? "", canonicalName: canonical)
        }
    }

    /// The tokens a mention covers, joined by spaces (empty if its indices are out of range).
    public func spanText(_ m: Mention) -> String {
        guard m.sentID >= 0, m.sentID < sents.count, m.pos.count == 2, m.pos[0] >= 0, m.pos[0] < m.pos[1],
              m.pos[1] <= sents[m.sentID].count else { return "" }
        return sents[m.sentID][m.pos[0]..<m.pos[1]].joined(separator: " ")
    }

    /// Checks indices: sent_id and pos inside the sentences, h and t inside vertexSet.
    /// Throws `.malformed` naming `file`, the document `index` and the field.
    public func validate(file: String, index: Int) throws {
        func bad(_ field: String, _ reason: String) -> DocREError {
            .malformed(file: file, document: index, field: field, reason: reason)
        }
        if vertexSet.isEmpty && !labels.isEmpty { throw bad("vertexSet", "empty but labels present") }
        for (e, ms) in vertexSet.enumerated() {
            if ms.isEmpty { throw bad("vertexSet[\(e)]", "entity without mentions") }
            for (k, m) in ms.enumerated() {
                let f = "vertexSet[\(e)][\(k)]"
                guard m.sentID >= 0, m.sentID < sents.count else {
                    throw bad(f + ".sent_id", "\(m.sentID) outside 0..<\(sents.count)")
                }
                guard m.pos.count == 2, m.pos[0] >= 0, m.pos[0] < m.pos[1], m.pos[1] <= sents[m.sentID].count else {
                    throw bad(f + ".pos", "\(m.pos) is not a span of sentence \(m.sentID) (\(sents[m.sentID].count) tokens)")
                }
            }
        }
        for (k, l) in labels.enumerated() {
            guard l.h >= 0, l.h < vertexSet.count else { throw bad("labels[\(k)].h", "\(l.h) outside 0..<\(vertexSet.count)") }
            guard l.t >= 0, l.t < vertexSet.count else { throw bad("labels[\(k)].t", "\(l.t) outside 0..<\(vertexSet.count)") }
        }
    }

    /// Gold facts with relation names; labels whose P-id the catalogue lacks throw.
    public func facts(_ catalogue: RelationCatalogue) throws -> [GoldFact] {
        try labels.map { l in
            guard let name = catalogue.name(forID: l.r) else { throw DocREError.unknownRelation(l.r) }
            return GoldFact(head: l.h, relation: name, tail: l.t)
        }
    }
}

/// An entity: its index in vertexSet, its names (distinct mention names in first-seen order, then
/// the token texts of mentions whose name differs from their tokens), type, and the name answers use.
public struct Entity: Hashable, Sendable {
    public var index: Int
    public var names: [String]
    public var type: String
    public var canonicalName: String
}

/// A labelled fact with the relation by name.
public struct GoldFact: Hashable, Sendable {
    public var head: Int
    public var relation: String
    public var tail: Int
}

/// A (head, relation, tail) triple of strings, as a model writes it.
public struct Triple: Hashable, Codable, Sendable, CustomStringConvertible {
    public var head: String
    public var relation: String
    public var tail: String
    public init(_ head: String, _ relation: String, _ tail: String) {
        self.head = head; self.relation = relation; self.tail = tail
    }
    public var description: String { "[\(head), \(relation), \(tail)]" }
}

/// Small text helpers shared by the builder, parser and evaluators.
public enum Text {
    /// All whitespace removed: "55.5 %" and "55.5%" become equal.
    public static func squeezed(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) }))
    }
    /// Whitespace runs collapsed to one space and trimmed: the key entity strings are compared by.
    public static func normalised(_ s: String) -> String {
        s.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}

/// Loads a split file: `[Document]` JSON. A malformed file gives one `DocREError.malformed`.
public enum DocumentLoader {
    public static func load(_ url: URL) throws -> [Document] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DocREError.missingFile(url.path)
        }
        return try decode(data, file: url.lastPathComponent)
    }

    public static func decode(_ data: Data, file: String) throws -> [Document] {
        let docs: [Document]
        do {
            docs = try JSONDecoder().decode([Document].self, from: data)
        } catch let error as DecodingError {
            throw describe(error, file: file)
        }
        for (i, d) in docs.enumerated() { try d.validate(file: file, index: i) }
        return docs
    }

    /// DecodingError → (document index, dotted field path, reason).
    static func describe(_ error: DecodingError, file: String) -> DocREError {
        let path: [CodingKey], reason: String
        switch error {
        case let .keyNotFound(key, ctx): path = ctx.codingPath + [key]; reason = "missing"
        case let .typeMismatch(type, ctx): path = ctx.codingPath; reason = "expected \(type)"
        case let .valueNotFound(type, ctx): path = ctx.codingPath; reason = "null where \(type) expected"
        case let .dataCorrupted(ctx):
            path = ctx.codingPath
            reason = "invalid JSON" + ((ctx.underlyingError as NSError?).map { ": \($0.localizedDescription)" } ?? "")
        @unknown default: path = []; reason = "\(error)"
        }
        let doc = path.first?.intValue
        var field = ""
        for key in path.dropFirst() {
            if let i = key.intValue { field += "[\(i)]" } else { field += (field.isEmpty ? "" : ".") + key.stringValue }
        }
        if path.isEmpty { field = "<root>" } else if field.isEmpty { field = "<document>" }
        return .malformed(file: file, document: doc, field: field, reason: reason)
    }
}
