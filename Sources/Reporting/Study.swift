// The study a report describes, read from Data/report/: its prose (study.md), the published results the
// runs stand beside, its main experiment and the results folders it leaves out (study.json). Not the
// numbers: those come from the results folders, and the renderers lay them out.
import DocRE
import Foundation

/// A published Re-DocRED result (F1 on dev / test) the report stands beside.
public struct PublishedResult: Codable, Equatable, Sendable {
    public var system: String
    public var dev: Double
    public var test: Double
    public var source: String
}

/// What the report says about the study, as `Data/report/study.json` and `study.md` hold it.
///
///     let study = try Study.load()                       // <root>/Data/report/
///     study.mainExperiment                               // "main_rhf"
public struct Study: Equatable, Sendable {
    /// The experiment whose per-relation table and comparison with single-adapter runs are shown.
    public var mainExperiment: String
    /// Results folders left out of the report (the README's demonstration run).
    public var excluded: Set<String>
    /// The published results table, with where it comes from.
    public var published: [PublishedResult]
    public var publishedSource: String
    /// The README's opening: title, what the folder holds, the caveats every number carries.
    public var introduction: String
    /// The caveat added when training fell back to dev documents (no `train_revised.json`).
    public var fallbackCaveat: String
    /// The sentence under the published table.
    public var publishedNote: String
    /// The heading of the table of this study's runs (names the model and base).
    public var runsHeading: String
    /// Pairs of experiments that differ in their base model, each [reference, challenger]: the report's
    /// base-model table sets them side by side with a paired bootstrap (`base_model_comparisons`).
    public var baseModelComparisons: [[String]] = []

    struct Facts: Codable {
        var mainExperiment: String
        var excluded: [String]
        var published: [PublishedResult]
        var publishedSource: String
        var baseModelComparisons: [[String]]?
        enum CodingKeys: String, CodingKey {
            case mainExperiment = "main_experiment", excluded, published, publishedSource = "published_source"
            case baseModelComparisons = "base_model_comparisons"
        }
    }

    /// The study in `directory` (default: `<root>/Data/report`); an error names the file and what is missing.
    public static func load(from directory: URL = DataLocation.projectData.appendingPathComponent("report")) throws -> Study {
        let jsonURL = directory.appendingPathComponent("study.json"), proseURL = directory.appendingPathComponent("study.md")
        guard let json = FileManager.default.contents(atPath: jsonURL.path) else {
            throw StudyError("\(jsonURL.path): cannot read the file (run from the repository root, or pass --root)")
        }
        let facts: Facts
        do { facts = try JSONDecoder().decode(Facts.self, from: json) } catch { throw StudyError("\(jsonURL.path): \(error)") }
        guard let prose = FileManager.default.contents(atPath: proseURL.path) else {
            throw StudyError("\(proseURL.path): cannot read the file (run from the repository root, or pass --root)")
        }
        let s = sections(String(decoding: prose, as: UTF8.self))
        func section(_ name: String) throws -> String {
            guard let t = s[name] else { throw StudyError("\(proseURL.path): no section '\(name)'") }
            return t
        }
        return Study(mainExperiment: facts.mainExperiment, excluded: Set(facts.excluded), published: facts.published,
                     publishedSource: facts.publishedSource, introduction: try section("introduction"),
                     fallbackCaveat: try section("fallback data caveat"), publishedNote: try section("published note"),
                     runsHeading: try section("runs heading").trimmingCharacters(in: .newlines),
                     baseModelComparisons: try pairs(facts.baseModelComparisons ?? [], file: jsonURL.path))
    }

    /// `base_model_comparisons` as written: each entry exactly two experiment names.
    static func pairs(_ p: [[String]], file: String) throws -> [[String]] {
        if let bad = p.first(where: { $0.count != 2 }) {
            throw StudyError("\(file): base_model_comparisons takes pairs [reference, challenger], not \(bad)")
        }
        return p
    }

    /// The sections of a prose file: each from its line `<!-- section: NAME -->` to the next, every line
    /// with its newline; what comes before the first section is a comment for the editor.
    static func sections(_ text: String) -> [String: String] {
        var out: [String: String] = [:], current: String?
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        for line in lines {
            if line.hasPrefix("<!-- section: "), line.hasSuffix(" -->") {
                let name = String(line.dropFirst("<!-- section: ".count).dropLast(" -->".count))
                current = name
                out[name] = ""
            } else if let c = current {
                out[c, default: ""] += line + "\n"
            }
        }
        return out
    }
}

/// The study files are missing or malformed.
public struct StudyError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
