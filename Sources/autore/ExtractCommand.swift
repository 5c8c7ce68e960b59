// `autore extract`: documents → triplets with trained stage adapters over one 4-bit base.
import ArgumentParser
import Autograd
import Distributed
import DocRE
import Experiments
import Foundation
import RHF
import Support

extension RelationsMethod: ExpressibleByArgument {}
extension RepeatedLines: ExpressibleByArgument {}

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract triplets with the stage adapters of trained runs (RHF: relations → heads → facts).",
        discussion: """
        --run takes run folders (comma-separated): adapter runs holding peft/, best.h5 or adapter.h5, PEFT adapter \
        folders, or a folder whose stage subfolders hold them; or one run of `fine_tuning: full`, whose \
        best/ (else final/) model.safetensors answers every stage; by default the adapters shipped in \
        Data/adapters/smollm2-rhf. The paradigm, prompts and decoding come from the first \
        adapter's config unless --config is given. Predictions go to --out as JSONL (one document a line), \
        appended batch by batch: rerunning the same command resumes.

          autore extract --text "Marie Curie was born in Warsaw."
          autore extract --run Experiments/runs/main_rhf --split dev --out dev.jsonl
        """)

    @Option(name: .customLong("run"), help: "Run or adapter folders, comma-separated (default: the shipped adapters, Data/adapters/smollm2-rhf).")
    var runFolders: String?
    @Option(help: "A split: train, select, dev, test, optionally sliced (dev[0:50]).") var split: String?
    @Option(help: "A JSONL file of documents: Re-DocRED documents, or {\"title\": …, \"text\": …} lines.") var input: String?
    @Option(help: "Raw text to extract from.") var text: String?
    @Option(help: "Predictions JSONL to write (resumed when it exists).") var out: String?
    @Option(help: "An experiment config whose paradigm, prompts and extraction settings to use.") var config: String?
    @Option(help: "Sample with this temperature instead of greedy decoding.") var temperature: Float?
    @Option(help: "Longest answer per question, in tokens.") var maxNewTokens: Int?
    @Option(help: "Documents decoded together.") var batchDocuments: Int?
    @Option(help: "Constrained decoding: answers spell only catalogue relations and passage spans (true or false).")
    var constrained: Bool?
    @Option(help: "The relations stage: generate (the adapter writes the list), likelihood (every relation scored), or union (the written list, then the relations scored at or above --relations-min-log-probability).")
    var relations: RelationsMethod?
    @Option(help: "With --relations likelihood: how many of the best-scored relations are kept; with union, how many may be added.") var relationsTopK: Int?
    @Option(help: "With --relations likelihood or union: the least log-probability (nats, ≤ 0) of a relation kept or added.")
    var relationsMinLogProbability: Double?
    @Option(help: "stop (an answer ends at its first repeated line) or drop (it goes on; repeats are dropped).")
    var repeatedLines: RepeatedLines?
    @Option(help: "Added to the end-of-answer logits per stage, as relations,heads,facts (below 0: longer lists).")
    var endBias: String?
    @Option(help: "Add a subject listed for another relation of the document when it scores at least this log-probability (nats) as the relation's first subject.")
    var sharedHeads: Double?
    @Option(help: "Drop a fact whose object is its subject (true or false).") var dropSelfRelations: Bool?
    @OptionGroup var data: DataDirOption
    @Flag(help: "Score the predictions of a split afterwards (AutoRE, official, stages).") var eval = false
    @Flag(help: "Print JSON (for --text).") var json = false
    @Flag(help: "Also print where the extraction's time went: seconds in each part of the model steps (quantized and dense products, attention, LoRA, vocabulary head, sampling, answer constraints) and the rest (prefills outside them, bookkeeping).")
    var profile = false
    @Option(help: ArgumentHelp("Write what the extraction cost (documents, seconds, tokens, threads, the command) as JSON here.",
                               valueName: "file")) var timing: String?

    @OptionGroup var rootOption: RootOption

    func run() throws {
        rootOption.apply()
        guard [split, input, text].compactMap({ $0 }).count == 1 else { throw ValidationError("give exactly one of --split, --input, --text") }
        // Under mpirun the documents are shared over the ranks; rank 0 writes them, in order, to --out.
        let comm = try MPICommunicator.job()
        if comm.size > 1 && (out == nil || text != nil) {
            throw ValidationError("under mpirun, autore extract shares the documents of --split or --input over the ranks and needs --out (the file rank 0 writes them to)")
        }
        let dirs = (runFolders ?? RunAdapters.shipped).split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        // Every rank loads the model, adapters and documents; one that cannot stops them all, with its reason.
        var stageList = ""
        let (cfg, experiment, extractor, docs, note): (ExperimentConfig, Experiment, Extractor, [Document], String?) = try comm.together {
            let run = try RunModel.open(dirs)
            var cfg: ExperimentConfig
            if let config { cfg = try ExperimentConfig.load(path: config) } else {
                cfg = try ExperimentConfig.parse(run.storedConfig.text, file: run.storedConfig.source)
            }
            if let temperature { cfg.extraction.temperature = temperature }
            if let maxNewTokens { cfg.extraction.maxNewTokens = StageBudget(maxNewTokens) }
            if let constrained { cfg.extraction.constrained = constrained }
            if let relations { cfg.extraction.relations = relations }
            if let relationsTopK { cfg.extraction.relationsTopK = relationsTopK }
            if let relationsMinLogProbability { cfg.extraction.relationsMinLogProbability = relationsMinLogProbability }
            if let repeatedLines { cfg.extraction.repeatedLines = repeatedLines }
            if let sharedHeads { cfg.extraction.sharedHeadsMinLogProbability = sharedHeads }
            if let dropSelfRelations { cfg.extraction.dropSelfRelations = dropSelfRelations }
            if let endBias {
                let v = endBias.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
                guard v.count == 3, v.allSatisfy({ $0?.isFinite == true }) else { throw ValidationError("--end-bias takes three numbers: relations,heads,facts") }
                cfg.extraction.endBias = PerStage(relations: v[0]!, heads: v[1]!, facts: v[2]!)
            }
            if let batchDocuments { cfg.extraction.batchDocuments = batchDocuments }
            try cfg.checkExtraction(source: "\(config ?? run.storedConfig.source) with the command line's options")
            let experiment = try Experiment(config: cfg, dataDir: data.dataDir, requireData: split != nil)
            if run.isFineTuned != (cfg.fineTuning == .full) {
                throw ValidationError("\(dirs.joined(separator: ",")) holds \(run.isFineTuned ? "a fully fine-tuned model" : "adapters"), but the config says fine_tuning: \(cfg.fineTuning.rawValue)")
            }
            let (base, map) = try run.load(base: .file(cfg.baseModel, load: { try LoadedModel(config: cfg) }), paradigm: cfg.paradigm)
            let extractor = Extractor(model: base.model, format: try PromptFormat(tokenizer: base.tokenizer, chatTemplate: cfg.chatTemplate),
                                      builder: experiment.builder, adapters: map, options: ExtractionOptions(cfg.extraction))
            stageList = cfg.paradigm.stages.map { "\($0.rawValue) ← \(map[$0] ?? "the fine-tuned model")" }.joined(separator: ", ")
            let docs: [Document], note: String?
            if let text { docs = [try Document.fromText(text)]; note = nil }
            else if let input { docs = try DocumentInput.load(input); note = nil }
            else { let d = try experiment.documents(split!); docs = d.documents; note = d.note }
            return (cfg, experiment, extractor, docs, note)
        }
        // ranks that decode with different settings or documents would write one file of mixed answers
        try comm.requireSame(String(decoding: try ResultsJSON.encode(cfg), as: UTF8.self) + "\n" + docs.map(\.title).joined(separator: "\n"),
                             what: "extraction settings and documents")
        if comm.isLead {
            FileHandle.standardError.write(Data("\(cfg.paradigm.rawValue): \(stageList)\n".utf8))
            if let note { print("note: \(note)") }
        }

        let preds: [PredictionRecord]
        if profile { StepProfile.start() }
        if let out { preds = try extractor.extract(docs, resumingAt: out, label: "extract", communicator: comm) }
        else { preds = try extractor.extract(docs) }
        let parts = profile ? StepProfile.stop() : [:]
        guard comm.isLead else { return }
        let s = extractor.statistics
        if profile {
            let measured = parts.values.reduce(0, +)
            let listed = StepProfile.Part.allCases.map { String(format: "%@ %.1f s", $0.description, parts[$0] ?? 0) }
                + [String(format: "other %.1f s", max(0, s.seconds - measured))]
            FileHandle.standardError.write(Data("where the time went: \(listed.joined(separator: ", "))\n".utf8))
        }
        if s.documents > 0 {
            FileHandle.standardError.write(Data(String(format: "%d documents in %.1f s: %.1f documents/minute, %.0f tokens/s (%d read, %d written)\n",
                                                       s.documents, s.seconds, s.documentsPerMinute, s.tokensPerSecond, s.promptTokens, s.generatedTokens).utf8))
            if let by = s.stageSeconds {
                let parts = Stage.allCases.compactMap { st in by[st.rawValue].map { String(format: "%@ %.1f s", st.rawValue, $0) } }
                FileHandle.standardError.write(Data("time by stage: \(parts.joined(separator: ", "))\n".utf8))
            }
            if let d = s.decoding {
                let parts = Stage.allCases.compactMap { st in d[st.rawValue].map {
                    String(format: "%@ %d steps, %.1f sequences a step, %.0f%% of tokens forced", st.rawValue, $0.steps, $0.meanBatch,
                           100 * Double($0.forced) / Double(max(1, $0.tokens)))
                } }
                FileHandle.standardError.write(Data("decoding by stage: \(parts.joined(separator: "; "))\n".utf8))
            }
        }
        if let timing {
            let input = split.map { "split \($0)" } ?? input.map { "file \($0)" } ?? "text"
            try ExtractionTiming(command: commandLine(), input: input, threads: Threads.count, statistics: s,
                                 resumedFrom: preds.count - s.documents).write(to: timing)
        }
        if text != nil {
            if json { try printJSON(preds[0]) } else {
                let p = preds[0]
                if let r = p.relations { print("relations: \(r.joined(separator: ", "))") }
                if let h = p.heads { for (r, hs) in h.sorted(by: { $0.key < $1.key }) { print("  \(r): \(hs.joined(separator: "; "))") } }
                print(p.tripleValues.isEmpty ? "no triplets" : p.tripleValues.map { TripletFormat.render($0) }.joined(separator: "\n"))
            }
        } else if out == nil {
            for p in preds { try printJSON(p) }
        }
        if eval, let split {
            let (train, _) = try experiment.loader.load(.train)
            let r = SplitResult(experiment: cfg.name, split: split, documents: docs, predictions: preds, trainDocuments: train,
                                catalogue: experiment.builder.catalogue, extraction: s, adapterSteps: [:], notes: note.map { [$0] } ?? [])
            print(String(format: "AutoRE F1 %.2f (P %.2f, R %.2f) · strict %.2f · official F1 %.2f, Ign F1 %.2f",
                         100 * r.autore.total.f1, 100 * r.autore.total.precision, 100 * r.autore.total.recall,
                         100 * r.strict.total.f1, 100 * r.official.total.f1, 100 * (r.official.ignF1 ?? 0)))
        }
    }
}

/// Documents from a JSONL file: Re-DocRED documents, or lines {"title": …, "text": …} of raw text.
enum DocumentInput {
    struct RawText: Decodable { var title: String?; var text: String }
    static func load(_ path: String) throws -> [Document] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot read the file") }
        var out: [Document] = []
        for (i, bytes) in JSONLines.lines(data).enumerated() {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            if let d = try? JSONDecoder().decode(Document.self, from: bytes) { out.append(d); continue }
            do {
                let r = try JSONDecoder().decode(RawText.self, from: bytes)
                out.append(try Document.fromText(r.text, title: r.title ?? "line \(i + 1)"))
            } catch {
                throw ValidationError("\(path) line \(i + 1): neither a Re-DocRED document nor {\"title\", \"text\"}: \(error)")
            }
        }
        guard !out.isEmpty else { throw ValidationError("\(path): no documents") }
        return out
    }
}
