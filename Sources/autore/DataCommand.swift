// `autore data …`: corpus statistics and building (prefix, question, answer) examples as JSONL.
import ArgumentParser
import DocRE
import Experiments
import Foundation
import RHF
import Support

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Re-DocRED statistics and paradigm example building.",
        subcommands: [DataStats.self, DataBuild.self]
    )
}

/// `--data-dir`, for every command that reads Re-DocRED.
struct DataDirOption: ParsableArguments {
    @Option(help: "Re-DocRED directory (default: $AUTORE_DATA, $AUTORE_HOME/data/redocred, ../shared/data/redocred: the first that holds dev_revised.json).")
    var dataDir: String?
}

/// Options shared by the data and eval commands.
struct DataLocationOptions: ParsableArguments {
    @OptionGroup var data: DataDirOption
    @Option(help: "Documents file instead of a split (a Re-DocRED-format JSON list).")
    var file: String?

    var dataDir: String? { data.dataDir }

    func loader() throws -> SplitLoader {
        guard let l = SplitLoader(dataDir: dataDir) else {
            throw ValidationError("Re-DocRED data not found; pass --data-dir or set AUTORE_DATA")
        }
        return l
    }

    /// Documents of `split`, optionally sliced (`test[0:50]`), or of --file, and a note when the fallback split was used.
    func documents(_ split: String) throws -> (docs: [Document], note: String?, catalogue: RelationCatalogue) {
        if let f = file { return (try DocumentLoader.load(URL(fileURLWithPath: f)), nil, .standard) }
        let slice: SplitSlice
        do { slice = try SplitSlice(parsing: split, file: "--split") } catch { throw ValidationError("\(error)") }
        let l = try loader()
        let d = try SplitDocuments(slice, loader: l)
        return (d.documents, d.note, try l.catalogue())
    }
}

struct ParadigmArguments: ParsableArguments {
    @Option(help: "Paradigm: \(Paradigm.allCases.map(\.rawValue).joined(separator: ", ")).")
    var paradigm: String = "D_R_H_F"
    @Option(help: "Description set: none, wikidata, own (default: own for D_R_H_F_desc, else none).")
    var descriptions: String?
    @Option(help: "Prompt order: documentFirst or original.")
    var order: String = "documentFirst"
    @Option(help: "Extra shuffled copies of each multi-line answer.")
    var augment: Int = 0
    @Option(help: "Seed for the shuffled copies.")
    var seed: UInt64 = 0
    @Flag(help: "Expand answers with every mention name of an entity.")
    var aliases = false

    func builder(catalogue: RelationCatalogue, dataDir: String?) throws -> ParadigmBuilder {
        guard let p = Paradigm(rawValue: paradigm) else { throw ValidationError("unknown paradigm \(paradigm)") }
        guard let o = PromptOrder(rawValue: order) else { throw ValidationError("unknown order \(order)") }
        var ds: DescriptionSet? = nil
        if let d = descriptions {
            guard let s = DescriptionSet(rawValue: d) else { throw ValidationError("unknown description set \(d)") }
            ds = s
        }
        let opts = ParadigmOptions(descriptions: ds, order: o, augmentCopies: augment, seed: seed, aliasExpansion: aliases)
        let set = ds ?? p.defaultDescriptions
        return try ParadigmBuilder(paradigm: p, catalogue: catalogue,
                                   descriptions: try RelationDescriptions.load(set, dataDir: dataDir), options: opts)
    }
}

struct DataStats: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Statistics of a split.")
    @OptionGroup var location: DataLocationOptions
    @Option(help: "Split: train, select, dev, test, optionally sliced (test[0:50]).") var split = "dev"
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Count passage tokens with this model's tokenizer (default: the base SmolLM2; 'none' to skip).")
    var model: String?

    func run() throws {
        let (docs, note, cat) = try location.documents(split)
        if let n = note { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
        let tokenizer = model == "none" ? nil : try ModelLocation.tokenizer(at: try ModelLocation.resolve(model))
        let s = DatasetStats(documents: docs, catalogue: cat, tokenCount: tokenizer.map { tok in { tok.encode($0).count } })
        if json {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(s), as: UTF8.self))
            return
        }
        func sm(_ x: Summary) -> String { String(format: "mean %.2f  median %d  min %d  max %d", x.mean, x.median, x.min, x.max) }
        print("split \(split)")
        print("documents                    \(s.documents)")
        print("triples (labels)             \(s.triples)")
        print("entities                     \(s.entities)")
        print("mentions                     \(s.mentions)")
        print("documents without labels     \(s.documentsWithoutLabels)")
        print("relations per document       \(sm(s.relationsPerDocument))")
        print("heads per (doc, relation)    \(sm(s.headsPerDocumentRelation))")
        print("facts per (doc, rel, head)   \(sm(s.factsPerHead))")
        print("passage words                \(sm(s.passageWords))")
        if let t = s.passageTokens { print("passage tokens (base model)  \(sm(t))") }
        print("mention names not verbatim   \(s.mentionNamesNotVerbatim) (not found ignoring spaces: \(s.mentionNamesNotFoundIgnoringSpaces))")
        print("names differing from tokens  \(s.mentionNamesDifferingFromTokens)")
        print("entities sharing a name      \(s.entitiesWithSharedNames)")
        print("relations present            \(s.triplesPerRelation.count) of \(cat.names.count)")
    }
}

struct DataBuild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Write a paradigm's examples as JSONL.")
    @OptionGroup var location: DataLocationOptions
    @OptionGroup var paradigm: ParadigmArguments
    @Option(help: "Stage: relations, heads, facts or all.") var stage = "all"
    @Option(help: "Split: train, select, dev, test, optionally sliced (test[0:50]).") var split = "train"
    @Option(help: "Output JSONL file.") var out: String
    @Option(help: "Only the first N documents.") var limit: Int?

    func run() throws {
        let (docs0, note, cat) = try location.documents(split)
        if let n = note { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
        let docs = limit.map { Array(docs0.prefix($0)) } ?? docs0
        let b = try paradigm.builder(catalogue: cat, dataDir: location.dataDir)
        guard let scope = AdapterScope(rawValue: stage) else { throw ValidationError("unknown stage \(stage)") }
        let stages: Set<Stage>? = scope == .allStages ? nil : scope.stages(of: b.paradigm)
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let examples = try docs.flatMap { try b.examples(for: $0, stages: stages) }
        try AtomicFile.write(try JSONLines.encode(examples, with: enc), to: URL(fileURLWithPath: out))
        print("wrote \(examples.count) examples from \(docs.count) documents to \(out)")
    }
}
