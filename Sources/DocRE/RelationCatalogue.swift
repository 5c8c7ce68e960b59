// The 96 Re-DocRED relations: names by Wikidata P-id, inverse and symmetric pairs, and the three
// description sets (none, Wikidata, the project's own in Data/relation_descriptions.json).
import Foundation

/// Relation names, lookup (case-insensitive, trimmed) and inverse completion rules.
///
///     let cat = RelationCatalogue.standard
///     cat.canonical("  Followed By ") // "followed by"
///     cat.inverses(of: "follows")      // ["followed by"]
public struct RelationCatalogue: Sendable {
    /// (P-id, name) in rel_info.json order.
    public let relations: [(id: String, name: String)]
    private let byID: [String: String]
    private let byLowerName: [String: String]

    public var names: [String] { relations.map(\.name) }

    public init(relations: [(id: String, name: String)]) {
        self.relations = relations
        byID = Dictionary(relations.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        byLowerName = Dictionary(relations.map { ($0.name.lowercased(), $0.name) }, uniquingKeysWith: { a, _ in a })
    }

    /// Reads rel_info.json (`{"P6": "head of government", …}`), keeping the standard order.
    public init(relInfo url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw DocREError.missingFile(url.path) }
        guard let map = (try? JSONSerialization.jsonObject(with: data)) as? [String: String] else {
            throw DocREError.malformed(file: url.lastPathComponent, document: nil, field: "<root>",
                                       reason: "expected an object of P-id → name")
        }
        let order = Dictionary(RelationCatalogue.standardTable.enumerated().map { ($1.0, $0) }, uniquingKeysWith: { a, _ in a })
        let rels = map.map { (id: $0.key, name: $0.value) }
            .sorted { (order[$0.id] ?? Int.max, $0.id) < (order[$1.id] ?? Int.max, $1.id) }
        self.init(relations: rels)
    }

    public static let standard = RelationCatalogue(relations: standardTable.map { (id: $0.0, name: $0.1) })

    public func name(forID id: String) -> String? { byID[id] }
    public func id(forName name: String) -> String? { relations.first { $0.name == name }?.id }

    /// Catalogue spelling of a relation written by a model (case-insensitive, whitespace-trimmed), or nil.
    public func canonical(_ written: String) -> String? { byLowerName[Text.normalised(written).lowercased()] }

    /// Relations implied in the reverse direction: r(a, b) ⇒ s(b, a) for every s returned.
    public func inverses(of relation: String) -> [String] {
        var out: [String] = []
        for (a, b) in RelationCatalogue.inversePairs {
            if a == relation { out.append(b) }
            if b == relation { out.append(a) }
        }
        for (a, b) in RelationCatalogue.oneWayInverses where a == relation { out.append(b) }
        if RelationCatalogue.symmetric.contains(relation) { out.append(relation) }
        return out.filter { byLowerName[$0.lowercased()] != nil }
    }

    /// Pairs that are inverses of each other in both directions (Wikidata "inverse property", P1696,
    /// restricted to the pairs where both sides are among the 96 relations).
    public static let inversePairs: [(String, String)] = [
        ("follows", "followed by"),
        ("replaces", "replaced by"),
        ("capital", "capital of"),
        ("has part", "part of"),
        ("contains administrative territorial entity", "located in the administrative territorial entity"),
        ("participant", "participant of"),
        ("subsidiary", "parent organization"),
        ("characters", "present in work"),
        ("manufacturer", "product or material produced"),
    ]
    /// r(a, b) ⇒ s(b, a) but not back: a child's parent may be its father or its mother.
    public static let oneWayInverses: [(String, String)] = [
        ("father", "child"),
        ("mother", "child"),
    ]
    /// r(a, b) ⇒ r(b, a).
    public static let symmetric: Set<String> = ["spouse", "sibling", "sister city"]

    /// rel_info.json of Re-DocRED (same 96 relations as DocRED), kept here so the catalogue works
    /// without the data; a test checks it against the file when present.
    static let standardTable: [(String, String)] = [
        ("P6", "head of government"),
        ("P17", "country"),
        ("P19", "place of birth"),
        ("P20", "place of death"),
        ("P22", "father"),
        ("P25", "mother"),
        ("P26", "spouse"),
        ("P27", "country of citizenship"),
        ("P30", "continent"),
        ("P31", "instance of"),
        ("P35", "head of state"),
        ("P36", "capital"),
        ("P37", "official language"),
        ("P39", "position held"),
        ("P40", "child"),
        ("P50", "author"),
        ("P54", "member of sports team"),
        ("P57", "director"),
        ("P58", "screenwriter"),
        ("P69", "educated at"),
        ("P86", "composer"),
        ("P102", "member of political party"),
        ("P108", "employer"),
        ("P112", "founded by"),
        ("P118", "league"),
        ("P123", "publisher"),
        ("P127", "owned by"),
        ("P131", "located in the administrative territorial entity"),
        ("P136", "genre"),
        ("P137", "operator"),
        ("P140", "religion"),
        ("P150", "contains administrative territorial entity"),
        ("P155", "follows"),
        ("P156", "followed by"),
        ("P159", "headquarters location"),
        ("P161", "cast member"),
        ("P162", "producer"),
        ("P166", "award received"),
        ("P170", "creator"),
        ("P171", "parent taxon"),
        ("P172", "ethnic group"),
        ("P175", "performer"),
        ("P176", "manufacturer"),
        ("P178", "developer"),
        ("P179", "series"),
        ("P190", "sister city"),
        ("P194", "legislative body"),
        ("P205", "basin country"),
        ("P206", "located in or next to body of water"),
        ("P241", "military branch"),
        ("P264", "record label"),
        ("P272", "production company"),
        ("P276", "location"),
        ("P279", "subclass of"),
        ("P355", "subsidiary"),
        ("P361", "part of"),
        ("P364", "original language of work"),
        ("P400", "platform"),
        ("P403", "mouth of the watercourse"),
        ("P449", "original network"),
        ("P463", "member of"),
        ("P488", "chairperson"),
        ("P495", "country of origin"),
        ("P527", "has part"),
        ("P551", "residence"),
        ("P569", "date of birth"),
        ("P570", "date of death"),
        ("P571", "inception"),
        ("P576", "dissolved, abolished or demolished"),
        ("P577", "publication date"),
        ("P580", "start time"),
        ("P582", "end time"),
        ("P585", "point in time"),
        ("P607", "conflict"),
        ("P674", "characters"),
        ("P676", "lyrics by"),
        ("P706", "located on terrain feature"),
        ("P710", "participant"),
        ("P737", "influenced by"),
        ("P740", "location of formation"),
        ("P749", "parent organization"),
        ("P800", "notable work"),
        ("P807", "separated from"),
        ("P840", "narrative location"),
        ("P937", "work location"),
        ("P1001", "applies to jurisdiction"),
        ("P1056", "product or material produced"),
        ("P1198", "unemployment rate"),
        ("P1336", "territory claimed by"),
        ("P1344", "participant of"),
        ("P1365", "replaces"),
        ("P1366", "replaced by"),
        ("P1376", "capital of"),
        ("P1412", "languages spoken, written or signed"),
        ("P1441", "present in work"),
        ("P3373", "sibling")

    ]
}

/// Which descriptions accompany a relation in prompts.
public enum DescriptionSet: String, CaseIterable, Sendable, Codable {
    case none, wikidata, own
}

/// A relation's description and, for the project's own set, one example triple.
public struct RelationDescription: Codable, Hashable, Sendable {
    public var description: String
    public var example: [String]?
    public init(description: String, example: [String]? = nil) { self.description = description; self.example = example }

    /// Text put in a prompt: the description, then the example as a triplet line.
    public var promptText: String {
        guard let e = example, e.count == 3 else { return description }
        return description + " Example: " + TripletFormat.render(Triple(e[0], e[1], e[2]))
    }
}

/// The descriptions of one set by relation name. `description(of:)` throws for a missing one.
public struct RelationDescriptions: Sendable {
    public let set: DescriptionSet
    public let byRelation: [String: RelationDescription]

    public init(set: DescriptionSet, byRelation: [String: RelationDescription]) {
        self.set = set; self.byRelation = byRelation
    }

    public static let none = RelationDescriptions(set: .none, byRelation: [:])

    /// Nil for the `none` set; throws naming the relation when a requested description is missing.
    public func description(of relation: String) throws -> RelationDescription? {
        if set == .none { return nil }
        guard let d = byRelation[relation], !d.description.isEmpty else {
            throw DocREError.missingDescription(relation: relation, set: set.rawValue)
        }
        return d
    }

    /// `Data/relation_descriptions.json`: `{relation name: {"description": …, "example": [s, r, o]}}`.
    public static func own(_ url: URL = DataLocation.projectData.appendingPathComponent("relation_descriptions.json")) throws -> RelationDescriptions {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw DocREError.missingFile(url.path) }
        do {
            return RelationDescriptions(set: .own, byRelation: try JSONDecoder().decode([String: RelationDescription].self, from: data))
        } catch let e as DecodingError {
            throw DocumentLoader.describe(e, file: url.lastPathComponent)
        }
    }

    /// `redocred_properties.json`: `{P-id: {name, wikidata_description, …}}` → name → description.
    public static func wikidata(_ url: URL) throws -> RelationDescriptions {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw DocREError.missingFile(url.path) }
        guard let map = (try? JSONSerialization.jsonObject(with: data)) as? [String: [String: Any]] else {
            throw DocREError.malformed(file: url.lastPathComponent, document: nil, field: "<root>", reason: "expected an object of P-id → property")
        }
        var out: [String: RelationDescription] = [:]
        for (_, p) in map {
            guard let name = p["name"] as? String, let d = p["wikidata_description"] as? String else { continue }
            out[name] = RelationDescription(description: d)
        }
        return RelationDescriptions(set: .wikidata, byRelation: out)
    }

    /// Loads a set by kind; `dataDir` locates redocred_properties.json for `wikidata`.
    public static func load(_ set: DescriptionSet, dataDir: String? = nil) throws -> RelationDescriptions {
        switch set {
        case .none: return .none
        case .own: return try own()
        case .wikidata:
            guard let u = DataLocation.wikidataProperties(dataDir) else {
                throw DocREError.missingFile("wikidata/redocred_properties.json (next to the redocred directory)")
            }
            return try wikidata(u)
        }
    }
}
