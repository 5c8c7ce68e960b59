// A LoRA adapter in Hugging Face PEFT's folder format (adapter_config.json + adapter_model.safetensors),
// read strictly and written atomically. Not a model: putting the weights into layers is LanguageModels'.
//
// Format (PEFT `save_pretrained` of a LoRA `PeftModel` over a causal LM): tensors named
// `base_model.model.<module>.lora_A.weight` (A: r × in) and `…lora_B.weight` (B: out × r), where
// <module> is the base model's module path, e.g. `model.layers.3.self_attn.q_proj`.
import Foundation
import Support

/// One precise reason why an adapter folder was refused or could not be written, naming the file.
public struct PEFTAdapterError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
}

/// A PEFT LoRA adapter: its configuration and, per adapted module, the matrices A (r, in) and B (out, r).
///
///     Δy = scale · x·Aᵀ·Bᵀ      scale = lora_alpha / r   (lora_alpha / √r with use_rslora)
///
///     let adapter = try PEFTAdapter(directory: "runs/relations/adapter")
///     let a = adapter.modules["model.layers.0.self_attn.q_proj"]!.a      // FloatArray, shape [8, 576]
///     try adapter.write(to: "exported/relations")
public struct PEFTAdapter: Equatable, Sendable {
    /// A and B of one adapted module, row-major: A (r, in), B (out, r).
    public struct Matrices: Equatable, Sendable {
        public var a: FloatArray
        public var b: FloatArray
        public init(a: FloatArray, b: FloatArray) { self.a = a; self.b = b }
    }

    /// r, lora_alpha, lora_dropout, target_modules and use_rslora.
    public var lora: LoRAConfig
    /// `base_model_name_or_path`: what the adapter was trained on (a hub name or a path), if known.
    public var baseModel: String?
    /// `inference_mode`: PEFT loads the adapter frozen when true.
    public var inferenceMode: Bool
    /// Module path (`model.layers.0.self_attn.q_proj`) → its matrices.
    public var modules: [String: Matrices]

    public init(lora: LoRAConfig, baseModel: String?, inferenceMode: Bool = true, modules: [String: Matrices]) {
        self.lora = lora; self.baseModel = baseModel; self.inferenceMode = inferenceMode; self.modules = modules
    }

    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"
    /// What this toolkit keeps beside the PEFT files (the stage an adapter answers, its run's config).
    public static let sidecarFile = "autore.json"

    /// The file's name of matrix "A" or "B" of `module`: `base_model.model.<module>.lora_A.weight`.
    public static func tensorName(module: String, matrix: String) -> String { "base_model.model.\(module).lora_\(matrix).weight" }

    /// The module path and matrix ("A" or "B") of a tensor name, or nil when it is not a LoRA matrix.
    public static func parseTensorName(_ name: String) -> (module: String, matrix: String)? {
        let prefix = "base_model.model."
        guard name.hasPrefix(prefix) else { return nil }
        for m in ["A", "B"] where name.hasSuffix(".lora_\(m).weight") {
            let module = String(name.dropFirst(prefix.count).dropLast(".lora_\(m).weight".count))
            return module.isEmpty ? nil : (module, m)
        }
        return nil
    }

    /// Whether PEFT's `target_modules` (a list of names) selects `module`: its last component is a target,
    /// or the whole path ends in `.target` (PEFT's suffix match) or equals it.
    public static func targets(_ targets: [String], module: String) -> Bool {
        targets.contains { module == $0 || module.hasSuffix("." + $0) }
    }
}

// MARK: - Reading

extension PEFTAdapter {
    /// Reads an adapter folder. A missing file, malformed JSON, a setting we cannot honour (bias, DoRA,
    /// per-layer ranks, …), a truncated safetensors file, a stray tensor or a mis-shaped one is one
    /// `PEFTAdapterError` naming the file and the key.
    public init(directory: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw PEFTAdapterError(path: directory, reason: "no such adapter folder")
        }
        let configPath = directory + "/" + Self.configFile
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw PEFTAdapterError(path: configPath, reason: FileManager.default.fileExists(atPath: configPath)
                ? "cannot read the file" : "missing (a PEFT adapter folder holds \(Self.configFile) and \(Self.weightsFile))")
        }
        let settings = try PEFTConfigFile(json: data, path: configPath)
        let weightsPath = directory + "/" + Self.weightsFile
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            let pickle = FileManager.default.fileExists(atPath: directory + "/adapter_model.bin")
            throw PEFTAdapterError(path: weightsPath, reason: pickle
                ? "missing; adapter_model.bin (a pickle) is not read: save with safe_serialization=True"
                : "missing (a PEFT adapter folder holds \(Self.configFile) and \(Self.weightsFile))")
        }
        try self.init(lora: settings.lora, baseModel: settings.baseModel, inferenceMode: settings.inferenceMode,
                      weightsPath: weightsPath)
    }

    init(lora: LoRAConfig, baseModel: String?, inferenceMode: Bool, weightsPath: String) throws {
        func fail(_ r: String) -> PEFTAdapterError { PEFTAdapterError(path: weightsPath, reason: r) }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: weightsPath) } catch let e as SafetensorsError {
            throw fail("safetensors field '\(e.field)': \(e.reason)")
        }
        var a: [String: FloatArray] = [:], b: [String: FloatArray] = [:]
        for t in file.tensors {
            guard let parsed = Self.parseTensorName(t.name) else {
                throw fail("tensor '\(t.name)' is not a LoRA matrix (base_model.model.<module>.lora_A.weight or lora_B.weight)")
            }
            let (module, matrix) = parsed
            guard Self.targets(lora.targets, module: module) else {
                throw fail("tensor '\(t.name)': module \(module) is not in target_modules \(lora.targets)")
            }
            guard t.shape.count == 2 else { throw fail("tensor '\(t.name)' has shape \(t.shape); LoRA matrices are 2-D") }
            let values = FloatArray(shape: t.shape, values: file.floats(t))
            if matrix == "A" {
                guard t.shape[0] == lora.rank else { throw fail("tensor '\(t.name)' has shape \(t.shape); A is (r = \(lora.rank), in)") }
                a[module] = values
            } else {
                guard t.shape[1] == lora.rank else { throw fail("tensor '\(t.name)' has shape \(t.shape); B is (out, r = \(lora.rank))") }
                b[module] = values
            }
        }
        for m in Set(a.keys).symmetricDifference(b.keys).sorted() {
            throw fail("tensor '\(Self.tensorName(module: m, matrix: a[m] == nil ? "A" : "B"))' is missing (its partner is present)")
        }
        guard !a.isEmpty else { throw fail("holds no LoRA matrices") }
        self.init(lora: lora, baseModel: baseModel, inferenceMode: inferenceMode,
                  modules: Dictionary(uniqueKeysWithValues: a.map { ($0.key, Matrices(a: $0.value, b: b[$0.key]!)) }))
    }
}

/// adapter_config.json: every key PEFT writes, checked. Settings that change what the weights mean
/// and that we cannot reproduce (bias, DoRA, per-module ranks or alphas, extra trained modules) are
/// refused; bookkeeping keys (initialisation, revision, …) are accepted and ignored.
struct PEFTConfigFile {
    var lora: LoRAConfig
    var baseModel: String?
    var inferenceMode: Bool

    /// Keys whose value does not change what a saved adapter computes.
    static let ignored: Set<String> = [
        "auto_mapping", "revision", "init_lora_weights", "loftq_config", "megatron_core", "eva_config",
        "corda_config", "layers_pattern", "qalora_group_size", "peft_version", "lora_ga_config",
    ]
    /// Keys whose value must be PEFT's default (null, false or empty) for us to honour the adapter.
    static let mustBeOff: [String: String] = [
        "use_dora": "DoRA (weight-decomposed LoRA) is not supported",
        "rank_pattern": "per-module ranks are not supported",
        "alpha_pattern": "per-module alphas are not supported",
        "modules_to_save": "fully trained extra modules are not supported",
        "layers_to_transform": "adapting only some layers is not supported",
        "layer_replication": "layer replication is not supported",
        "exclude_modules": "excluded modules are not supported",
        "megatron_config": "Megatron layers are not supported",
        "lora_bias": "a LoRA bias is not supported",
        "use_qalora": "QA-LoRA is not supported",
        "trainable_token_indices": "trainable token embeddings are not supported",
        "target_parameters": "LoRA on parameters is not supported",
        "fan_in_fan_out": "fan_in_fan_out (Conv1D weights stored in × out) is not supported",
    ]

    init(json data: Data, path: String) throws {
        func fail(_ key: String, _ r: String) -> PEFTAdapterError { PEFTAdapterError(path: path, reason: "key '\(key)': \(r)") }
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw PEFTAdapterError(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard case .object(let o) = root else { throw PEFTAdapterError(path: path, reason: "not a JSON object") }

        guard o["peft_type"]?.string == "LORA" else { throw fail("peft_type", "\(o["peft_type"]?.text ?? "missing"); only LORA adapters are read") }
        if let t = o["task_type"], !t.isOff, t.string != "CAUSAL_LM" {
            throw fail("task_type", "\(t.text); only CAUSAL_LM adapters are read")
        }
        if let b = o["bias"], !b.isOff, b.string != "none" { throw fail("bias", "\(b.text); only bias \"none\" is supported") }
        for (key, why) in Self.mustBeOff.sorted(by: { $0.key < $1.key }) {
            if let v = o[key], !v.isOff { throw fail(key, "\(v.text): \(why)") }
        }
        guard let rv = o["r"]?.number, rv == rv.rounded(), rv >= 1, rv <= 1_048_576 else {
            throw fail("r", "\(o["r"]?.text ?? "missing"); the rank must be a positive integer")
        }
        guard let alpha = o["lora_alpha"]?.number, alpha > 0 else {
            throw fail("lora_alpha", "\(o["lora_alpha"]?.text ?? "missing"); must be a positive number")
        }
        var dropout = 0.0
        if let d = o["lora_dropout"], !d.isNull {
            guard let x = d.number, x >= 0, x < 1 else { throw fail("lora_dropout", "\(d.text); must be in [0, 1)") }
            dropout = x
        }
        let targets: [String]
        switch o["target_modules"] {
        case .array(let xs)?:
            let names = xs.compactMap(\.string)
            guard names.count == xs.count, !names.isEmpty else { throw fail("target_modules", "must be a non-empty list of module names") }
            targets = names
        case .string(let s)?:
            throw fail("target_modules", "\"\(s)\" is a pattern (regular expression or all-linear); a list of module names is required")
        default:
            throw fail("target_modules", "\(o["target_modules"]?.text ?? "missing"); must be a non-empty list of module names")
        }
        var rs = false
        if let v = o["use_rslora"], !v.isNull {
            guard case .bool(let b) = v else { throw fail("use_rslora", "\(v.text); must be true or false") }
            rs = b
        }
        if let v = o["base_model_name_or_path"], !v.isNull, v.string == nil { throw fail("base_model_name_or_path", "\(v.text); must be a string") }
        var inference = true
        if let v = o["inference_mode"], !v.isNull {
            guard case .bool(let b) = v else { throw fail("inference_mode", "\(v.text); must be true or false") }
            inference = b
        }
        // A key we do not know may switch on a feature of a newer PEFT: accept it only while it is off.
        let known = Self.ignored.union(Self.mustBeOff.keys).union([
            "peft_type", "task_type", "bias", "r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora",
            "base_model_name_or_path", "inference_mode",
        ])
        for key in o.keys.sorted() where !known.contains(key) && !o[key]!.isOff {
            throw fail(key, "\(o[key]!.text) is a setting this reader does not know; refusing rather than guessing its meaning")
        }
        lora = LoRAConfig(rank: Int(rv), alpha: Float(alpha), dropout: Float(dropout), targets: targets, rsLoRA: rs)
        baseModel = o["base_model_name_or_path"]?.string
        inferenceMode = inference
    }

    /// The file PEFT would write for `lora` (keys sorted, two-space indentation as `json.dumps(indent=2)`).
    static func json(lora: LoRAConfig, baseModel: String?, inferenceMode: Bool) -> Data {
        let o: [String: JSONValue] = [
            "peft_type": .string("LORA"), "task_type": .string("CAUSAL_LM"),
            "base_model_name_or_path": baseModel.map(JSONValue.string) ?? .null, "inference_mode": .bool(inferenceMode),
            "r": .number(Double(lora.rank)), "lora_alpha": .number(Double("\(lora.alpha)")!),
            "lora_dropout": .number(Double("\(lora.dropout)")!), "target_modules": .array(lora.targets.map(JSONValue.string)),
            "use_rslora": .bool(lora.rsLoRA), "use_dora": .bool(false), "bias": .string("none"), "fan_in_fan_out": .bool(false),
            "init_lora_weights": .bool(true), "modules_to_save": .null, "layers_to_transform": .null, "layers_pattern": .null,
            "rank_pattern": .object([:]), "alpha_pattern": .object([:]), "revision": .null,
        ]
        return Data((JSONValue.object(o).render(indent: "") + "\n").utf8)
    }
}

/// A JSON value as written, so that booleans, numbers and nulls stay apart.
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let x = try? c.decode(Double.self) { self = .number(x) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    var string: String? { if case .string(let s) = self { return s }; return nil }
    var number: Double? { if case .number(let x) = self { return x }; return nil }
    var isNull: Bool { self == .null }
    /// null, false, "", [] or {}: PEFT's way of saying a feature is not used.
    var isOff: Bool {
        switch self {
        case .null: return true
        case .bool(let b): return !b
        case .string(let s): return s.isEmpty
        case .array(let a): return a.isEmpty
        case .object(let o): return o.isEmpty
        case .number: return false
        }
    }
    /// Compact JSON text, for error messages.
    var text: String { render(indent: nil) }

    /// JSON text; pretty (two spaces per level, sorted keys) when `indent` is given.
    func render(indent: String?) -> String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let x): return x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
        case .string(let s):
            let e = JSONEncoder()
            e.outputFormatting = .withoutEscapingSlashes
            return String(decoding: try! e.encode(s), as: UTF8.self)   // quotes, backslashes and controls escaped
        case .array(let a):
            guard let indent, !a.isEmpty else { return "[" + a.map { $0.render(indent: nil) }.joined(separator: ", ") + "]" }
            let inner = indent + "  "
            return "[\n" + a.map { inner + $0.render(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let o):
            let keys = o.keys.sorted()
            guard let indent, !o.isEmpty else {
                return "{" + keys.map { JSONValue.string($0).text + ": " + o[$0]!.render(indent: nil) }.joined(separator: ", ") + "}"
            }
            let inner = indent + "  "
            return "{\n" + keys.map { inner + JSONValue.string($0).text + ": " + o[$0]!.render(indent: inner) }.joined(separator: ",\n")
                + "\n" + indent + "}"
        }
    }
}

// MARK: - Writing

extension PEFTAdapter {
    /// Checks that every module is targeted and has A (r, in) and B (out, r) of the config's rank; the
    /// error names `path` (where the adapter goes or comes from) and the tensor.
    public func validate(path: String) throws {
        guard !modules.isEmpty else { throw PEFTAdapterError(path: path, reason: "the adapter has no modules") }
        for (m, x) in modules.sorted(by: { $0.key < $1.key }) {
            let an = Self.tensorName(module: m, matrix: "A"), bn = Self.tensorName(module: m, matrix: "B")
            guard x.a.shape.count == 2, x.a.shape[0] == lora.rank, x.a.values.count == x.a.shape.reduce(1, *) else {
                throw PEFTAdapterError(path: path, reason: "tensor '\(an)' has shape \(x.a.shape) and \(x.a.values.count) values; A is (r = \(lora.rank), in)")
            }
            guard x.b.shape.count == 2, x.b.shape[1] == lora.rank, x.b.values.count == x.b.shape.reduce(1, *) else {
                throw PEFTAdapterError(path: path, reason: "tensor '\(bn)' has shape \(x.b.shape) and \(x.b.values.count) values; B is (out, r = \(lora.rank))")
            }
            guard Self.targets(lora.targets, module: m) else {
                throw PEFTAdapterError(path: path, reason: "module \(m) is not in target_modules \(lora.targets)")
            }
        }
    }

    /// Writes `directory`/adapter_config.json and adapter_model.safetensors (Float32, tensors in module
    /// order) as PEFT's `save_pretrained` does, and `extraFiles` (file name → bytes; `autore.json`) beside
    /// them. All are written (`AtomicFile`, synced) into a temporary folder beside `directory`, and that
    /// folder put in its place (`AtomicFile.replaceFolder`: swapped in one rename where the system can), so
    /// a killed or failed writer leaves the previous adapter or the new one, whole. An existing `directory`
    /// is replaced only when it holds nothing but adapter files (adapter_config.json,
    /// adapter_model.safetensors, README.md, autore.json).
    public func write(to directory: String, extraFiles: [String: Data] = [:]) throws {
        try validate(path: directory)
        let fm = FileManager.default
        let url = URL(fileURLWithPath: directory).standardizedFileURL
        let parent = url.deletingLastPathComponent().path, name = url.lastPathComponent
        let allowed: Set<String> = [Self.configFile, Self.weightsFile, "README.md", Self.sidecarFile]
        if let other = extraFiles.keys.sorted().first(where: { !allowed.contains($0) || $0 == Self.configFile || $0 == Self.weightsFile }) {
            throw PEFTAdapterError(path: directory, reason: "'\(other)' cannot be written beside the adapter")
        }
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw PEFTAdapterError(path: directory, reason: "exists and is not a folder") }
            let present = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
            if let other = present.sorted().first(where: { !allowed.contains($0) }) {
                throw PEFTAdapterError(path: directory, reason: "exists and holds '\(other)', which is not part of an adapter; choose a new or empty folder")
            }
        }
        do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw PEFTAdapterError(path: parent, reason: "cannot create the folder (\(error.localizedDescription))")
        }
        let tmp = parent + "/.\(name).tmp-\(getpid())-\(UUID().uuidString.prefix(8))"
        do {
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
            try AtomicFile.write(PEFTConfigFile.json(lora: lora, baseModel: baseModel, inferenceMode: inferenceMode),
                                 to: tmp + "/" + Self.configFile)
            var tensors: [SafetensorsTensor] = []
            for m in modules.keys.sorted() {
                let x = modules[m]!
                tensors.append(SafetensorsTensor(name: Self.tensorName(module: m, matrix: "A"), shape: x.a.shape, values: x.a.values))
                tensors.append(SafetensorsTensor(name: Self.tensorName(module: m, matrix: "B"), shape: x.b.shape, values: x.b.values))
            }
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: tmp + "/" + Self.weightsFile)
            for (f, data) in extraFiles.sorted(by: { $0.key < $1.key }) { try AtomicFile.write(data, to: tmp + "/" + f) }
            try AtomicFile.replaceFolder(url.path, with: tmp)
        } catch {
            try? fm.removeItem(atPath: tmp)
            if let e = error as? PEFTAdapterError { throw e }
            if let e = error as? FileWriteError { throw PEFTAdapterError(path: directory, reason: "cannot write the adapter: \(e)") }
            throw PEFTAdapterError(path: directory, reason: "cannot write the adapter (\(error))")
        }
    }
}
