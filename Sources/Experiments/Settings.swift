// The settings of an experiment config that take one of a fixed set of values, as enums decoded once from
// the YAML: how adapters are laid out over the stages, what selects the kept adapter, how the base is held.
// Each encodes as the string the YAML (and the JSON a run writes) has always held.
import DocRE
import Foundation
import LanguageModels
import RHF

/// A config value that is not one of its allowed values; the message names the key and the choices.
public struct SettingError: Error, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// How an experiment's adapters cover the paradigm's stages (`stage:` in YAML).
///
///     stage: all        → .shared               one adapter trained on every stage
///     stage: each       → .perStage             one adapter per stage, in `<run>/<stage>/`
///     stage: heads      → .single(.heads)       one adapter for that stage; the others come from elsewhere
public enum AdapterLayout: Hashable, Sendable, Codable, CustomStringConvertible {
    case shared
    case perStage
    case single(Stage)

    /// `all`, `each` or a stage name; nil for anything else.
    public init?(rawValue: String) {
        switch rawValue {
        case "all": self = .shared
        case "each": self = .perStage
        default:
            guard let s = Stage(rawValue: rawValue) else { return nil }
            self = .single(s)
        }
    }

    public var rawValue: String {
        switch self {
        case .shared: return AdapterScope.allStages.rawValue
        case .perStage: return "each"
        case .single(let s): return s.rawValue
        }
    }

    public var description: String { rawValue }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let layout = AdapterLayout(rawValue: text) else {
            throw SettingError("stage '\(text)' is not a stage name, all or each")
        }
        self = layout
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    /// The stage of a single-stage layout; nil for the shared and per-stage layouts.
    public var singleStage: Stage? {
        if case .single(let s) = self { return s }
        return nil
    }
}

/// What picks the kept adapter (`evaluation.select_by`), and which metric a best evaluation holds.
public enum SelectBy: String, Codable, Sendable, CaseIterable {
    /// Stage F1 by generation on selection documents (higher is better).
    case stageF1 = "f1"
    /// Held-out loss on selection documents (lower is better).
    case heldOutLoss = "loss"

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = SelectBy(rawValue: text) else { throw SettingError("evaluation.select_by must be f1 or loss, not '\(text)'") }
        self = v
    }
}

/// How the base model's projection weights are held (`quantization:`).
public enum Quantization: String, Codable, Sendable, CaseIterable {
    /// 4-bit NormalFloat, quantized as the weights are read (QLoRA's frozen base).
    case nf4
    /// Float32, as read.
    case float32 = "none"
    /// The GGML blocks of a quantized GGUF, kept as stored (`WeightQuantization.native`).
    case native

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = Quantization(rawValue: text) else { throw SettingError("quantization must be nf4, none or native, not '\(text)'") }
        self = v
    }

    /// The loader's setting for this choice.
    public func weights(doubleQuantization: Bool) -> WeightQuantization {
        switch self {
        case .nf4: return .nf4(doubleQuantization: doubleQuantization)
        case .float32: return .none
        case .native: return .native
        }
    }
}

/// What training updates (`fine_tuning:`): LoRA adapters over a frozen base, or every weight of the base.
public enum FineTuningMethod: String, Codable, Sendable, CaseIterable {
    /// LoRA adapters as `lora:` says, over the base held as `quantization:` says (QLoRA over NF4).
    case lora
    /// Every weight (embeddings and tied head, norms, projections) in Float32 with AdamW: needs
    /// `quantization: none` and one model for all stages (`stage: all`); `lora:` is not used.
    case full

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = FineTuningMethod(rawValue: text) else { throw SettingError("fine_tuning must be lora or full, not '\(text)'") }
        self = v
    }
}
