// `autore-bench extract`: a fixed set of selection documents through a run's adapters (by default the
// three shipped ones), as `autore extract` decodes them: documents/minute, tokens/s, each stage's share of
// the time with its model steps and mean batch, and each part of the model steps' share (StepProfile).
import ArgumentParser
import Autograd
import DocRE
import Experiments
import Foundation
import LanguageModels
import RHF

struct BenchExtract: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extraction of a fixed set of selection documents: documents/min, tokens/s, time by stage and by part of the step.",
        discussion: """
            Decodes --split (default select[0:20]) with the adapters of --run (default the three shipped in \
            Data/adapters/smollm2-rhf) and the decoding of their config (or --config), as `autore extract` does, \
            and reports where the time went. Nothing is written. Figures depend on the host and its load: compare \
            layouts and changes within one session (Docs/performance.md).
            """)

    @Option(name: .customLong("run"), help: "Run or adapter folders, comma-separated (default: the shipped adapters).") var runFolders: String?
    @Option(help: "An experiment config whose extraction settings to use (default: the run's).") var config: String?
    @Option(help: "The documents (a split, optionally sliced).") var split = "select[0:20]"
    @Option(help: "Documents decoded together (default: the config's extraction.batch_documents).") var batchDocuments: Int?
    @Option(help: "Re-DocRED directory.") var dataDir: String?
    @Flag(help: "Print JSON.") var json = false

    struct Result: Encodable {
        var split: String, documents: Int, threads: Int, openblasKernels: String
        var seconds: Double, documentsPerMinute: Double, tokensPerSecond: Double
        var promptTokens: Int, generatedTokens: Int
        /// Seconds by stage, and each stage's model steps, tokens and forced tokens.
        var stageSeconds: [String: Double]
        var decoding: [String: DecodeCounts]
        /// Seconds by part of the model steps (StepProfile); "other" the rest of the extraction's time.
        var partSeconds: [String: Double]
    }

    func run() throws {
        let dirs = (runFolders ?? RunAdapters.shipped).split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        let model = try RunModel.open(dirs)
        var cfg = try config.map { try ExperimentConfig.load(path: $0) }
            ?? ExperimentConfig.parse(model.storedConfig.text, file: model.storedConfig.source)
        if let batchDocuments { cfg.extraction.batchDocuments = batchDocuments }
        try cfg.checkExtraction(source: config ?? model.storedConfig.source)
        let experiment = try Experiment(config: cfg, dataDir: dataDir, requireData: true)
        let docs = try experiment.documents(split).documents
        let (base, map) = try model.load(base: .file(cfg.baseModel, load: { try LoadedModel(config: cfg) }), paradigm: cfg.paradigm)
        let extractor = Extractor(model: base.model, format: try PromptFormat(tokenizer: base.tokenizer, chatTemplate: cfg.chatTemplate),
                                  builder: experiment.builder, adapters: map, options: ExtractionOptions(cfg.extraction))
        StepProfile.start()
        _ = try extractor.extract(docs)
        let parts = StepProfile.stop()
        let s = extractor.statistics
        var partSeconds = Dictionary(uniqueKeysWithValues: parts.map { ($0.key.description, $0.value) })
        partSeconds["other"] = max(0, s.seconds - parts.values.reduce(0, +))
        let r = Result(split: split, documents: s.documents, threads: Threads.count, openblasKernels: BLASKernels.current,
                       seconds: s.seconds, documentsPerMinute: s.documentsPerMinute, tokensPerSecond: s.tokensPerSecond,
                       promptTokens: s.promptTokens, generatedTokens: s.generatedTokens,
                       stageSeconds: s.stageSeconds ?? [:], decoding: s.decoding ?? [:], partSeconds: partSeconds)
        if json { try printJSON(r); return }
        print(String(format: "%@: %d documents in %.1f s, %.1f documents/minute, %.0f tokens/s (%d read, %d written); %d threads, OpenBLAS %@",
                     split, r.documents, r.seconds, r.documentsPerMinute, r.tokensPerSecond, r.promptTokens, r.generatedTokens,
                     r.threads, r.openblasKernels))
        print("")
        print("stage        seconds   share   model steps   sequences a step   forced tokens")
        for st in Stage.allCases {
            guard let sec = r.stageSeconds[st.rawValue] else { continue }
            let d = r.decoding[st.rawValue] ?? DecodeCounts()
            print(st.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(format: " %9.1f %6.0f%% %13d %18.1f %14.0f%%", sec, 100 * sec / max(r.seconds, 1e-9),
                           d.steps, d.meanBatch, 100 * Double(d.forced) / Double(max(1, d.tokens))))
        }
        print("")
        print("part of the steps            seconds   share")
        for name in StepProfile.Part.allCases.map(\.description) + ["other"] {
            let sec = r.partSeconds[name] ?? 0
            print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " %8.1f %6.0f%%", sec, 100 * sec / max(r.seconds, 1e-9)))
        }
    }
}
