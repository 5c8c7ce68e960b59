// What one trained adapter answers: every stage of the paradigm, or one stage. The name it goes by on a
// model, in a run folder and in the files a run writes is the scope's raw value (`all`, or the stage name).
import DocRE

/// The stages one adapter answers.
///
///     AdapterScope(rawValue: "all")      // .allStages: one adapter for the whole paradigm
///     AdapterScope(rawValue: "heads")    // .stage(.heads)
public enum AdapterScope: Hashable, Sendable, Codable, CustomStringConvertible {
    case allStages
    case stage(Stage)

    /// `all` or a stage name; nil for anything else.
    public init?(rawValue: String) {
        if rawValue == "all" { self = .allStages; return }
        guard let s = Stage(rawValue: rawValue) else { return nil }
        self = .stage(s)
    }

    /// `all`, or the stage's name: the adapter's name on a model and its folder in a run.
    public var rawValue: String {
        switch self {
        case .allStages: return "all"
        case .stage(let s): return s.rawValue
        }
    }

    public var description: String { rawValue }

    /// Every scope, in the order run folders list them (the stages, then the shared adapter).
    public static var allCases: [AdapterScope] { Stage.allCases.map { .stage($0) } + [.allStages] }

    /// The stages of `paradigm` this adapter answers.
    public func stages(of paradigm: Paradigm) -> Set<Stage> {
        switch self {
        case .allStages: return Set(paradigm.stages)
        case .stage(let s): return [s]
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let s = AdapterScope(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a stage name or all"))
        }
        self = s
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
