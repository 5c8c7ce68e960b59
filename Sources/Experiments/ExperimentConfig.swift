// Experiment configs (YAML): what `autore train`, `extract` and `run` do. Decoding is strict: an unknown
// key or a wrong type is one error naming the file and the key path. Not the trainer: see FineTuning.
import DocRE
import FineTuning
import Foundation
import LanguageModels
import NeuralNet
import RHF
import Support
import Yams

/// LoRA settings (`lora:`).
public struct LoRASettings: Codable, Equatable, Sendable {
    public var rank = 16
    public var alpha: Float = 16
    public var dropout: Float = 0.05
    public var targets = ["q_proj", "v_proj"]
    public var rslora = false
    enum CodingKeys: String, CodingKey, CaseIterable { case rank, alpha, dropout, targets, rslora }
    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        rank = try c(.rank, rank); alpha = try c(.alpha, alpha); dropout = try c(.dropout, dropout)
        targets = try c(.targets, targets); rslora = try c(.rslora, rslora)
    }
    public var loraConfig: LoRAConfig { LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: targets, rsLoRA: rslora) }
}

/// Optimizer and schedule (`optimizer:`).
public struct OptimizerSettings: Codable, Equatable, Sendable {
    public var learningRate: Float = 5e-5
    public var schedule: LearningRateSchedule.Kind = .cosine
    public var warmupSteps = 0
    public var weightDecay: Float = 0
    public var maxGradNorm: Float = 1
    enum CodingKeys: String, CodingKey, CaseIterable {
        case learningRate = "learning_rate", schedule, warmupSteps = "warmup_steps", weightDecay = "weight_decay", maxGradNorm = "max_grad_norm"
    }
    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        learningRate = try c(.learningRate, learningRate); schedule = try c(.schedule, schedule)
        warmupSteps = try c(.warmupSteps, warmupSteps); weightDecay = try c(.weightDecay, weightDecay)
        maxGradNorm = try c(.maxGradNorm, maxGradNorm)
    }
}

/// Length of training and how examples are batched (`training:`).
public struct TrainingSettings: Codable, Equatable, Sendable {
    /// Optimizer steps; when absent, `epochs` over the training groups.
    public var steps: Int?
    public var epochs: Double?
    /// Prefix groups accumulated per optimizer step.
    public var accumulation = 1
    /// Longest prefix + question + answer, in tokens; longer examples are cut at the document.
    public var cutoffLength = 1024
    /// At most this many questions of one document in one forward pass (larger groups are split).
    public var maxQuestionsPerGroup = 16
    public var checkpointEvery = 50
    public var activationCheckpointing = false
    public var seed: UInt64 = 0
    /// Steps in a row skipped for a non-finite loss or gradient norm after which training stops.
    public var maxBadSteps = 5
    /// A finished run whose adapter starts this one (its weights instead of a fresh initialisation): a run
    /// name (`Experiments/runs/<name>`, beside this run's folder) or a folder path. The LoRA shape must agree.
    public var initFrom: String?
    /// How each step's groups' gradients are summed: `sum` (an allreduce of each rank's sum) or `ordered`
    /// (each group's gradient added in batch order on every rank: the same bits under any number of ranks).
    public var reduction: GradientReduction = .sum
    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, epochs, accumulation, cutoffLength = "cutoff_length", maxQuestionsPerGroup = "max_questions_per_group"
        case checkpointEvery = "checkpoint_every", activationCheckpointing = "activation_checkpointing", seed
        case maxBadSteps = "max_bad_steps", initFrom = "init_from", reduction
    }
    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        steps = try c.decodeIfPresent(Int.self, forKey: .steps); epochs = try c.decodeIfPresent(Double.self, forKey: .epochs)
        accumulation = try c(.accumulation, accumulation); cutoffLength = try c(.cutoffLength, cutoffLength)
        maxQuestionsPerGroup = try c(.maxQuestionsPerGroup, maxQuestionsPerGroup)
        checkpointEvery = try c(.checkpointEvery, checkpointEvery)
        activationCheckpointing = try c(.activationCheckpointing, activationCheckpointing); seed = try c(.seed, seed)
        maxBadSteps = try c(.maxBadSteps, maxBadSteps)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
        if let text = try c.decodeIfPresent(String.self, forKey: .reduction) {
            guard let r = GradientReduction(rawValue: text) else { throw SettingError("training.reduction must be sum or ordered, not '\(text)'") }
            reduction = r
        }
    }
}

/// Which documents train, select and test (`data:`): `train`, `select`, `dev` or `test`, optionally sliced
/// as `dev[0:400]`. Without `train_revised.json`, `train` is the first 400 dev documents and `select` the
/// last 100 (DocRE's `Split`), and every report says so.
public struct DataSettings: Codable, Equatable, Sendable {
    public var train = "train"
    public var select = "select"
    public var test = "test"
    /// Relations no training example mentions (`held_out_relations`): scored apart as unseen relations.
    public var heldOutRelations: HeldOutRelationSettings?
    enum CodingKeys: String, CodingKey, CaseIterable { case train, select, test, heldOutRelations = "held_out_relations" }
    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        train = try c(.train, train); select = try c(.select, select); test = try c(.test, test)
        heldOutRelations = try c.decodeIfPresent(HeldOutRelationSettings.self, forKey: .heldOutRelations)
    }
}

/// `data.held_out_relations`: a list of P-ids or relation names (`[P17, "author"]`), or `{auto: K, seed: S}`
/// for K relations of middle training frequency drawn stratified (`HeldOutRelations.auto`).
public enum HeldOutRelationSettings: Codable, Equatable, Sendable {
    case named([String])
    case auto(count: Int, seed: UInt64)
    enum CodingKeys: String, CodingKey { case auto, seed }
    public init(from decoder: Decoder) throws {
        if let names = try? decoder.singleValueContainer().decode([String].self) { self = .named(names); return }
        guard let c = try? decoder.container(keyedBy: CodingKeys.self), let k = try? c.decode(Int.self, forKey: .auto) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "a list of P-ids or relation names, or {auto: K, seed: S}"))
        }
        self = .auto(count: k, seed: try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0)
    }
    public func encode(to encoder: Encoder) throws {
        switch self {
        case .named(let names): var c = encoder.singleValueContainer(); try c.encode(names)
        case let .auto(k, seed): var c = encoder.container(keyedBy: CodingKeys.self); try c.encode(k, forKey: .auto); try c.encode(seed, forKey: .seed)
        }
    }
}

/// Held-out loss and generation F1 during training (`evaluation:`).
public struct EvaluationSettings: Codable, Equatable, Sendable {
    public var every = 50
    public var lossGroups = 16
    /// Selection documents whose stage answers are generated (from gold inputs) and scored at each evaluation.
    public var generationDocuments = 8
    /// What picks the kept adapter (`best.h5`): `f1` (stage F1 by generation) or `loss` (held-out loss).
    public var selectBy = SelectBy.stageF1
    /// Early stopping: training ends after this many evaluations in a row that do not beat the best one
    /// (by `select_by`); absent, training runs all its steps.
    public var patience: Int?
    enum CodingKeys: String, CodingKey, CaseIterable {
        case every, lossGroups = "loss_groups", generationDocuments = "generation_documents", selectBy = "select_by"
        case patience
    }
    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        every = try c(.every, every); lossGroups = try c(.lossGroups, lossGroups)
        generationDocuments = try c(.generationDocuments, generationDocuments); selectBy = try c(.selectBy, selectBy)
        patience = try c.decodeIfPresent(Int.self, forKey: .patience)
    }
}

/// What a list answer does when it writes a line it has written before.
public enum RepeatedLines: String, Codable, CaseIterable, Sendable {
    /// The answer ends there (a greedy loop adds nothing more).
    case stop
    /// The answer goes on to its end or budget; the parser drops the repeat.
    case drop
}

/// One value per RHF stage, written as one value for every stage (`max_new_tokens: 128`) or as a mapping
/// of some stages (`max_new_tokens: {relations: 96, facts: 200}`; an absent stage keeps the default).
public struct PerStage<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var relations: Value, heads: Value, facts: Value
    public init(_ all: Value) { relations = all; heads = all; facts = all }
    public init(relations: Value, heads: Value, facts: Value) { self.relations = relations; self.heads = heads; self.facts = facts }
    enum CodingKeys: String, CodingKey, CaseIterable { case relations, heads, facts }
    struct AnyKey: CodingKey {
        var stringValue: String, intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
    }
    /// Decodes over `defaults`: the caller's field initial value is what an absent stage keeps.
    init(from decoder: Decoder, defaults: PerStage) throws {
        if let all = try? decoder.singleValueContainer().decode(Value.self) { self.init(all); return }
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        if let k = keys.first(where: { Stage(rawValue: $0) == nil }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "unknown stage '\(k)' (a value, or a mapping of relations, heads, facts)"))
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(relations: try c(.relations, defaults.relations), heads: try c(.heads, defaults.heads), facts: try c(.facts, defaults.facts))
    }
    public init(from decoder: Decoder) throws { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "decoded by its section")) }
    public func encode(to encoder: Encoder) throws {
        if relations == heads && heads == facts { var c = encoder.singleValueContainer(); try c.encode(relations); return }
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(relations, forKey: .relations); try c.encode(heads, forKey: .heads); try c.encode(facts, forKey: .facts)
    }
    public var byStage: [Stage: Value] { [.relations: relations, .heads: heads, .facts: facts] }
    public var all: [Value] { [relations, heads, facts] }
}
extension PerStage: ExpressibleByIntegerLiteral where Value == Int {
    public init(integerLiteral all: Int) { self.init(all) }
}

/// The longest answer per stage, in tokens.
public typealias StageBudget = PerStage<Int>

extension KeyedDecodingContainer {
    /// A per-stage value at `key`, or `fallback` (also for the stages a mapping leaves out).
    func callAsFunction<V>(_ key: Key, _ fallback: PerStage<V>) throws -> PerStage<V> {
        guard contains(key) else { return fallback }
        return try PerStage<V>(from: try superDecoder(forKey: key), defaults: fallback)
    }
}

/// How answers are generated (`extraction:`).
public struct ExtractionSettings: Codable, Equatable, Sendable {
    /// Longest answer of one question, in tokens, per stage.
    public var maxNewTokens: StageBudget = 128
    /// 0 is greedy decoding.
    public var temperature: Float = 0
    public var topK = 0
    public var topP: Float = 1
    public var seed: UInt64 = 0
    /// Documents whose questions are decoded together.
    public var batchDocuments = 4
    /// At most this many relations of one document are followed, and this many subjects of one relation.
    public var maxRelations = 16
    public var maxHeads = 8
    /// `stop` (the answer ends at its first repeated line) or `drop` (it goes on; repeats are dropped).
    public var repeatedLines = RepeatedLines.stop
    /// Answers spell only catalogue relation names and passage spans (Extractor.constraint).
    public var constrained = false
    /// `generate` (the adapter writes the relations) or `likelihood` (every catalogue relation scored).
    public var relations = RelationsMethod.generate
    /// With `relations: likelihood`: keep the best `relations_top_k`, of those only the ones whose
    /// log-probability (nats) reaches `relations_min_log_probability` when set, but at least one.
    public var relationsTopK = 8
    public var relationsMinLogProbability: Double?
    /// Added to the end-of-answer logits at each choice, per stage: below 0, lists end only when the model
    /// is surer they are complete (GenerationOptions.stopBias).
    public var endBias = PerStage<Float>(Float(0))
    /// When set: a subject listed for one relation of a document is added to another of its relations when
    /// its line scores at least this log-probability (nats) as that relation's first subject.
    public var sharedHeadsMinLogProbability: Double?
    /// Drop a fact whose object is its subject (ParserOptions.dropSelfRelations).
    public var dropSelfRelations = false
    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxNewTokens = "max_new_tokens", temperature, topK = "top_k", topP = "top_p", seed
        case batchDocuments = "batch_documents", maxRelations = "max_relations", maxHeads = "max_heads"
        case repeatedLines = "repeated_lines", constrained, relations
        case relationsTopK = "relations_top_k", relationsMinLogProbability = "relations_min_log_probability"
        case endBias = "end_bias", sharedHeadsMinLogProbability = "shared_heads_min_log_probability"
        case dropSelfRelations = "drop_self_relations"
    }
    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        maxNewTokens = try c(.maxNewTokens, maxNewTokens); temperature = try c(.temperature, temperature)
        topK = try c(.topK, topK); topP = try c(.topP, topP); seed = try c(.seed, seed)
        batchDocuments = try c(.batchDocuments, batchDocuments)
        maxRelations = try c(.maxRelations, maxRelations); maxHeads = try c(.maxHeads, maxHeads)
        repeatedLines = try c(.repeatedLines, repeatedLines); constrained = try c(.constrained, constrained)
        relations = try c(.relations, relations); relationsTopK = try c(.relationsTopK, relationsTopK)
        relationsMinLogProbability = try c.decodeIfPresent(Double.self, forKey: .relationsMinLogProbability)
        endBias = try c(.endBias, endBias)
        sharedHeadsMinLogProbability = try c.decodeIfPresent(Double.self, forKey: .sharedHeadsMinLogProbability)
        dropSelfRelations = try c(.dropSelfRelations, dropSelfRelations)
    }
    public var budget: [Stage: Int] { maxNewTokens.byStage }
    public var relationSelection: RelationSelection {
        RelationSelection(topK: relationsTopK, minLogProbability: relationsMinLogProbability)
    }
}

/// One experiment: a base model, a paradigm and stage, the prompt design, LoRA, optimizer and data.
///
///     let config = try ExperimentConfig.load(path: "Experiments/quickstart.yaml")
public struct ExperimentConfig: Codable, Equatable, Sendable {
    public var name: String
    /// `smollm2` (the cached default) or a path to a .gguf file or checkpoint directory.
    public var baseModel = "smollm2"
    /// `nf4` (4-bit NormalFloat, the QLoRA base), `none` (Float32) or `native` (a GGUF's own blocks).
    public var quantization = Quantization.nf4
    public var doubleQuantization = true
    /// `lora` (adapters over the frozen base) or `full` (every weight trained; needs `quantization: none`).
    public var fineTuning = FineTuningMethod.lora
    public var paradigm: Paradigm = .D_R_H_F
    /// `stage:` in YAML. A stage name: one adapter for that stage; `all`: one adapter trained on every stage
    /// of the paradigm; `each`: one adapter per stage (trained one after the other into `<run>/<stage>/`).
    public var adapterLayout = AdapterLayout.shared
    public var descriptions: DescriptionSet?
    public var promptOrder: PromptOrder = .documentFirst
    public var augmentation = 0
    public var aliasExpansion = false
    /// `model` (the checkpoint's chat template) or `none` (plain text).
    public var chatTemplate = "model"
    public var lora = LoRASettings()
    public var optimizer = OptimizerSettings()
    public var training = TrainingSettings()
    public var data = DataSettings()
    public var evaluation = EvaluationSettings()
    public var extraction = ExtractionSettings()
    /// What the run costs, for the reader (e.g. "about 40 minutes on 2 cores").
    public var compute: String?
    /// The run folder (Experiments/runs/<run>) whose finished adapters this experiment uses, when another
    /// experiment trained them: a decoding variant of a trained run. nil: its own name (it trains them).
    public var run: String?
    /// Whether this experiment decodes with another experiment's adapters (`run:` names another).
    public var isDecodingVariant: Bool { run.map { $0 != name } ?? false }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, baseModel = "base_model", quantization, doubleQuantization = "double_quantization", fineTuning = "fine_tuning"
        case paradigm, adapterLayout = "stage"
        case descriptions, promptOrder = "prompt_order", augmentation, aliasExpansion = "alias_expansion"
        case chatTemplate = "chat_template", lora, optimizer, training, data, evaluation, extraction, compute, run
    }

    public init(name: String) { self.name = name }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name))
        baseModel = try c(.baseModel, baseModel); quantization = try c(.quantization, quantization)
        doubleQuantization = try c(.doubleQuantization, doubleQuantization); fineTuning = try c(.fineTuning, fineTuning)
        paradigm = try c(.paradigm, paradigm)
        if let text = try c.decodeIfPresent(String.self, forKey: .adapterLayout) {
            guard let layout = AdapterLayout(rawValue: text) else { throw SettingError(Self.notAStage(text, of: paradigm)) }
            adapterLayout = layout
        }
        descriptions = try c.decodeIfPresent(DescriptionSet.self, forKey: .descriptions)
        promptOrder = try c(.promptOrder, promptOrder); augmentation = try c(.augmentation, augmentation)
        aliasExpansion = try c(.aliasExpansion, aliasExpansion); chatTemplate = try c(.chatTemplate, chatTemplate)
        lora = try c(.lora, lora); optimizer = try c(.optimizer, optimizer); training = try c(.training, training)
        data = try c(.data, data); evaluation = try c(.evaluation, evaluation)
        extraction = try c(.extraction, extraction)
        compute = try c.decodeIfPresent(String.self, forKey: .compute)
        run = try c.decodeIfPresent(String.self, forKey: .run)
    }

    /// Keys allowed in each section, for the unknown-key check.
    static let schema: [String: [String]] = [
        "": CodingKeys.allCases.map(\.stringValue),
        "lora": LoRASettings.CodingKeys.allCases.map(\.stringValue),
        "optimizer": OptimizerSettings.CodingKeys.allCases.map(\.stringValue),
        "training": TrainingSettings.CodingKeys.allCases.map(\.stringValue),
        "data": DataSettings.CodingKeys.allCases.map(\.stringValue),
        "evaluation": EvaluationSettings.CodingKeys.allCases.map(\.stringValue),
        "extraction": ExtractionSettings.CodingKeys.allCases.map(\.stringValue),
    ]

    /// This config with what does not shape an adapter reset: the name, the run it reads, the extraction
    /// settings, the test split, how often it checkpoints (a resumed run is the same bit for bit:
    /// KillResumeTests) and the compute note. Two configs that agree here train the same adapters bit for bit.
    public var trainingPart: ExperimentConfig {
        var c = resultsPart
        c.extraction = ExtractionSettings(); c.data.test = DataSettings().test
        c.name = ""; c.run = nil   // a decoding variant (`run:`) uses adapters trained under another name
        c.training.checkpointEvery = TrainingSettings().checkpointEvery
        return c
    }

    /// This config with what does not change its results reset: the compute note. Two configs that agree
    /// here make the same predictions and scores.
    public var resultsPart: ExperimentConfig {
        var c = self
        c.compute = nil
        return c
    }

    /// Whether an adapter trained under the config text `stored` is the one `text` would train (comments,
    /// formatting and the settings `trainingPart` resets may differ).
    public static func trainsAlike(_ stored: String, _ text: String) -> Bool {
        if stored == text { return true }
        guard let a = try? parse(stored, file: "stored config"), let b = try? parse(text, file: "config") else { return false }
        return a.trainingPart == b.trainingPart
    }

    public static func load(path: String) throws -> ExperimentConfig {
        try parse(text(path: path), file: path)
    }

    /// A config file's text (an error naming the file when it cannot be read).
    public static func text(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, reason: "cannot read the file")
        }
        return String(decoding: data, as: UTF8.self)
    }

    public static func parse(_ text: String, file: String) throws -> ExperimentConfig {
        let tree = try YAMLTree.load(text, file: file)
        guard let top = tree as? [String: Any] else { throw ConfigError(file: file, reason: "the top level must be a mapping of keys") }
        for (section, allowed) in schema {
            let node: Any? = section.isEmpty ? top : top[section]
            guard let node else { continue }
            guard let map = node as? [String: Any] else {
                throw ConfigError(file: file, reason: "'\(section)' must be a mapping of keys")
            }
            for key in map.keys.sorted() where !allowed.contains(key) {
                let path = section.isEmpty ? key : "\(section).\(key)"
                throw ConfigError(file: file, reason: "unknown key '\(path)' (allowed here: \(allowed.joined(separator: ", ")))")
            }
        }
        let config: ExperimentConfig
        do { config = try YAMLDecoder().decode(ExperimentConfig.self, from: text) } catch {
            throw ConfigError(file: file, reason: setting(error)?.reason ?? (error as? DecodingError).map(describe) ?? "\(error)")
        }
        try config.validate(file: file)
        return config
    }

    /// The refused setting behind a decoding error: the YAML decoder wraps what a setting's decoder throws.
    static func setting(_ e: Error) -> SettingError? {
        if let s = e as? SettingError { return s }
        if case DecodingError.dataCorrupted(let c) = e, let u = c.underlyingError { return setting(u) }
        return nil
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case .typeMismatch(let t, let c): return "'\(path(c.codingPath))' must be \(t): \(c.debugDescription)"
        case .valueNotFound(let t, let c): return "'\(path(c.codingPath))' needs a \(t) value"
        case .keyNotFound(let k, let c): return "missing key '\(path(c.codingPath + [k]))'"
        case .dataCorrupted(let c): return "'\(path(c.codingPath))': \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    /// Why `stage` is no stage layout of `paradigm`.
    static func notAStage(_ stage: String, of paradigm: Paradigm) -> String {
        "stage '\(stage)' is not one of \(paradigm.rawValue)'s stages (\(paradigm.stages.map(\.rawValue).joined(separator: ", ")), all or each)"
    }

    func validate(file: String) throws {
        func bad(_ r: String) -> ConfigError { ConfigError(file: file, reason: r) }
        if case .single(let s) = adapterLayout, !paradigm.stages.contains(s) { throw bad(Self.notAStage(s.rawValue, of: paradigm)) }
        if fineTuning == .full {
            guard quantization == .float32 else { throw bad("fine_tuning: full trains every weight in Float32; it needs quantization: none, not \(quantization.rawValue)") }
            guard adapterLayout == .shared else { throw bad("fine_tuning: full trains one model for every stage; it needs stage: all, not \(adapterLayout)") }
            guard training.initFrom == nil else { throw bad("fine_tuning: full starts from the base model; training.init_from names adapters, which it cannot start from") }
        }
        try Self.checkExtractionRanges(of: self, bad)
        guard lora.rank > 0, lora.alpha > 0, (0..<1).contains(lora.dropout) else { throw bad("lora needs rank > 0, alpha > 0, 0 ≤ dropout < 1") }
        try Self.checkRanges(of: self, bad)
        if let t = lora.targets.first(where: { !LoRAConfig.allProjections.contains($0) }) {
            throw bad("lora.targets: unknown layer '\(t)' (choose from \(LoRAConfig.allProjections.joined(separator: ", ")))")
        }
        guard training.steps != nil || training.epochs != nil else { throw bad("training needs steps or epochs") }
        try Self.checkTrainingRanges(of: self, bad)
        if let s = training.steps, s <= 0 { throw bad("training.steps must be positive") }
        if let e = training.epochs, !(e > 0) { throw bad("training.epochs must be positive") }
        guard training.accumulation > 0, training.cutoffLength > 16, training.maxQuestionsPerGroup > 0 else {
            throw bad("training.accumulation, cutoff_length and max_questions_per_group must be positive")
        }
        for s in [data.train, data.select, data.test] {
            do { _ = try SplitSlice(parsing: s, file: file) } catch let e as SplitError { throw ConfigError(file: e.file, reason: e.reason) }
        }
    }
}

extension ExperimentConfig {
    /// Upper bounds past which a value is a typo, not a setting (far beyond any run this project makes).
    static let most = (steps: 10_000_000, epochs: 10_000.0, tokens: 1 << 20, count: 1_000_000, rank: 4096, alpha: Float(1e6))

    /// Numbers of the `lora`, `optimizer` and top-level sections: finite, in range, the key named.
    static func checkRanges(of c: ExperimentConfig, _ bad: (String) -> ConfigError) throws {
        func require(_ ok: Bool, _ key: String, _ value: Any, _ range: String) throws {
            guard ok else { throw bad("\(key) must be \(range), not \(value)") }
        }
        try require(c.lora.rank <= most.rank, "lora.rank", c.lora.rank, "at most \(most.rank)")
        try require(c.lora.alpha.isFinite && c.lora.alpha <= most.alpha, "lora.alpha", c.lora.alpha, "finite and at most \(Int(most.alpha))")
        let o = c.optimizer
        try require(o.learningRate.isFinite && o.learningRate > 0 && o.learningRate <= 1, "optimizer.learning_rate", o.learningRate, "in (0, 1]")
        try require(o.warmupSteps >= 0 && o.warmupSteps <= most.steps, "optimizer.warmup_steps", o.warmupSteps, "in [0, \(most.steps)]")
        if let s = c.training.steps { try require(o.warmupSteps <= s, "optimizer.warmup_steps", o.warmupSteps, "at most training.steps (\(s))") }
        try require(o.weightDecay.isFinite && o.weightDecay >= 0 && o.weightDecay <= 1, "optimizer.weight_decay", o.weightDecay, "in [0, 1]")
        try require(o.maxGradNorm.isFinite && o.maxGradNorm > 0, "optimizer.max_grad_norm", o.maxGradNorm, "positive and finite")
        try require(c.augmentation >= 0 && c.augmentation <= 1000, "augmentation", c.augmentation, "in [0, 1000]")
    }

    /// Numbers of the `training` and `evaluation` sections: positive where zero means nothing (a step count,
    /// a period), finite, not absurd; each refusal names its key.
    static func checkTrainingRanges(of c: ExperimentConfig, _ bad: (String) -> ConfigError) throws {
        func require(_ ok: Bool, _ key: String, _ value: Any, _ range: String) throws {
            guard ok else { throw bad("\(key) must be \(range), not \(value)") }
        }
        let t = c.training, e = c.evaluation
        if let s = t.steps { try require(s > 0 && s <= most.steps, "training.steps", s, "in [1, \(most.steps)]") }
        if let x = t.epochs { try require(x.isFinite && x > 0 && x <= most.epochs, "training.epochs", x, "positive, finite and at most \(Int(most.epochs))") }
        try require(t.accumulation > 0 && t.accumulation <= most.count, "training.accumulation", t.accumulation, "in [1, \(most.count)]")
        try require(t.cutoffLength > 16 && t.cutoffLength <= most.tokens, "training.cutoff_length", t.cutoffLength, "in [17, \(most.tokens)] tokens")
        try require(t.maxQuestionsPerGroup > 0 && t.maxQuestionsPerGroup <= most.count, "training.max_questions_per_group", t.maxQuestionsPerGroup, "in [1, \(most.count)]")
        try require(t.checkpointEvery > 0 && t.checkpointEvery <= most.steps, "training.checkpoint_every", t.checkpointEvery, "in [1, \(most.steps)] steps")
        try require(t.maxBadSteps > 0 && t.maxBadSteps <= most.count, "training.max_bad_steps", t.maxBadSteps, "in [1, \(most.count)]")
        try require(e.every > 0 && e.every <= most.steps, "evaluation.every", e.every, "in [1, \(most.steps)] steps")
        try require(e.lossGroups >= 0 && e.lossGroups <= most.count, "evaluation.loss_groups", e.lossGroups, "in [0, \(most.count)]")
        if e.selectBy == .heldOutLoss { try require(e.lossGroups > 0, "evaluation.loss_groups", e.lossGroups, "positive with select_by: loss") }
        try require(e.generationDocuments >= 0 && e.generationDocuments <= most.count, "evaluation.generation_documents", e.generationDocuments, "in [0, \(most.count)]")
        if let p = e.patience { try require(p > 0 && p <= most.count, "evaluation.patience", p, "in [1, \(most.count)] evaluations") }
        if let h = c.data.heldOutRelations {
            switch h {
            case .named(let names): try require(!names.isEmpty, "data.held_out_relations", "[]", "a non-empty list or {auto: K}")
            case .auto(let k, _): try require(k > 0 && k <= 96, "data.held_out_relations.auto", k, "in [1, 96]")
            }
        }
        if let i = t.initFrom { try require(!i.trimmingCharacters(in: .whitespaces).isEmpty, "training.init_from", "''", "a run name or folder") }
    }

    /// The `extraction` section checked again after a caller changed it (the command line's options):
    /// each refusal names its key and `source`.
    public func checkExtraction(source: String) throws {
        try Self.checkExtractionRanges(of: self) { ConfigError(file: source, reason: $0) }
    }

    /// Numbers of the `extraction` section: finite, in range, each refusal naming its key.
    static func checkExtractionRanges(of c: ExperimentConfig, _ bad: (String) -> ConfigError) throws {
        func require(_ ok: Bool, _ key: String, _ value: Any, _ range: String) throws {
            guard ok else { throw bad("extraction.\(key) must be \(range), not \(value)") }
        }
        let x = c.extraction
        for (stage, n) in x.budget.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            try require(n > 0 && n <= most.tokens, "max_new_tokens (\(stage.rawValue))", n, "in [1, \(most.tokens)] tokens")
        }
        try require(x.temperature.isFinite && x.temperature >= 0 && x.temperature <= 100, "temperature", x.temperature, "finite, in [0, 100]")
        try require(x.topK >= 0 && x.topK <= most.count, "top_k", x.topK, "in [0, \(most.count)]")
        try require(x.topP.isFinite && x.topP > 0 && x.topP <= 1, "top_p", x.topP, "in (0, 1]")
        try require(x.batchDocuments > 0 && x.batchDocuments <= 10_000, "batch_documents", x.batchDocuments, "in [1, 10000]")
        try require(x.maxRelations > 0 && x.maxRelations <= 10_000, "max_relations", x.maxRelations, "in [1, 10000]")
        try require(x.maxHeads > 0 && x.maxHeads <= 10_000, "max_heads", x.maxHeads, "in [1, 10000]")
        try require(x.relationsTopK > 0 && x.relationsTopK <= 10_000, "relations_top_k", x.relationsTopK, "in [1, 10000]")
        if let v = x.relationsMinLogProbability { try require(v.isFinite && v <= 0, "relations_min_log_probability", v, "finite and ≤ 0") }
        if x.relations == .union && x.relationsMinLogProbability == nil {
            throw bad("extraction.relations: union adds the relations scored at or above extraction.relations_min_log_probability, which is not set")
        }
        if let v = x.sharedHeadsMinLogProbability { try require(v.isFinite && v <= 0, "shared_heads_min_log_probability", v, "finite and ≤ 0") }
        for b in x.endBias.all { try require(b.isFinite && abs(b) <= 100, "end_bias", b, "finite, in [-100, 100]") }
    }

    /// Settings an experiment cannot do without; a config that names none of them would run entirely on
    /// defaults (a file holding only `name:` would train the default model on the default data).
    static let experimentSettings = ["base_model", "paradigm", "data"]

    /// Refuses the YAML `text` of a config to train or run when it names none of `experimentSettings`.
    public static func requireExperimentSettings(_ text: String, file: String) throws {
        let top = (try? YAMLTree.load(text, file: file)) as? [String: Any] ?? [:]
        guard experimentSettings.contains(where: { top[$0] != nil }) else {
            throw ConfigError(file: file, reason: "names none of \(experimentSettings.joined(separator: ", ")); an experiment would run on defaults only (say at least which model, paradigm or data)")
        }
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the key is absent (a present key of the wrong type throws).
    func callAsFunction<T: Decodable>(_ key: Key, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}

extension LoadedModel {
    /// The base an experiment config names, held as its `quantization` says.
    public init(config: ExperimentConfig) throws {
        try self.init(config.baseModel, quantization: config.quantization.weights(doubleQuantization: config.doubleQuantization))
    }
}

extension ExtractionOptions {
    /// The decoding a config's `extraction:` section asks for.
    public init(_ s: ExtractionSettings) {
        self.init()
        budget = s.budget
        sampling = SamplingOptions(temperature: s.temperature, topK: s.topK, topP: s.topP)
        seed = s.seed; batchDocuments = s.batchDocuments; maxRelations = s.maxRelations; maxHeads = s.maxHeads
        stopOnRepeatedLine = s.repeatedLines == .stop
        constrained = s.constrained; relations = s.relations; relationSelection = s.relationSelection
        endBias = s.endBias.byStage; sharedHeadsMinLogProbability = s.sharedHeadsMinLogProbability
        dropSelfRelations = s.dropSelfRelations
    }
}
