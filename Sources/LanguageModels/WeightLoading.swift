// Building a LlamaModel from a checkpoint (GGUF file, or a directory with config.json and safetensors),
// strictly: every parameter set, every tensor used, every shape checked, errors naming the tensor.
// Not a format reader: GGUFFile and SafetensorsCheckpoint do that.
import Autograd
import Foundation
import ModelFormats
import NeuralNet
import Quantization

public struct WeightLoadingError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var reason: String
    public var description: String { "\(source): \(reason)" }
}

/// Tensors of a checkpoint under their HF names (`model.layers.3.self_attn.q_proj.weight`), row-major
/// in the HF layout (q/k rows in the half-split rotary order).
public protocol WeightSource: AnyObject {
    var path: String { get }
    var names: [String] { get }
    func shape(_ name: String) -> [Int]?
    func floats(_ name: String) throws -> [Float]
}

/// HF name ↔ GGUF name of the Llama family.
public enum GGUFTensorNames {
    static let layerParts: [(hf: String, gguf: String)] = [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"), ("self_attn.q_proj.bias", "attn_q.bias"),
        ("self_attn.k_proj.weight", "attn_k.weight"), ("self_attn.k_proj.bias", "attn_k.bias"),
        ("self_attn.v_proj.weight", "attn_v.weight"), ("self_attn.v_proj.bias", "attn_v.bias"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"),
        ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ]
    static let global: [String: String] = [
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    ]
    /// Gemma 3's block tensors where they differ from Llama's (llama.cpp `LLM_ARCH_GEMMA3` tensor names):
    /// its `ffn_norm` is the norm before the MLP (HF `pre_feedforward_layernorm`), and the attention output,
    /// the MLP output, queries and keys have norms of their own.
    static let gemma3LayerParts: [(hf: String, gguf: String)] = [
        ("post_attention_layernorm.weight", "post_attention_norm.weight"),
        ("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
        ("post_feedforward_layernorm.weight", "post_ffw_norm.weight"),
        ("self_attn.q_norm.weight", "attn_q_norm.weight"),
        ("self_attn.k_norm.weight", "attn_k_norm.weight"),
    ]
    /// Tensors a GGUF may hold that the model recomputes (llama3 rope frequencies).
    static let derived: Set<String> = ["rope_freqs.weight"]

    /// The HF name of a GGUF tensor of `architecture`, or nil when it is not a tensor of that model.
    public static func hfName(_ gguf: String, architecture: String = "llama") -> String? {
        if let g = global[gguf] { return g }
        let parts = gguf.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let table = architecture == "gemma3" ? gemma3LayerParts + layerParts : layerParts
        guard let hf = table.first(where: { $0.gguf == parts[2] })?.hf else { return nil }
        return "model.layers.\(layer).\(hf)"
    }
}

/// A GGUF checkpoint seen through HF names and conventions: q/k rows are un-permuted back to the half-split
/// order (llama, mistral); Gemma's norm weights are returned as w, not the 1 + w llama.cpp's converter stores.
public final class GGUFWeights: WeightSource {
    public let file: GGUFFile
    public let config: ModelConfig
    private var byHF: [String: GGUFTensorInfo] = [:]
    public var path: String { file.path }

    public init(_ file: GGUFFile, config: ModelConfig) throws {
        self.file = file
        self.config = config
        for t in file.tensors where !GGUFTensorNames.derived.contains(t.name) {
            guard let hf = GGUFTensorNames.hfName(t.name, architecture: config.architecture) else {
                throw WeightLoadingError(source: file.path, reason: "tensor '\(t.name)' is not part of a \(config.architecture) model")
            }
            byHF[hf] = t
        }
    }
    public var names: [String] { byHF.keys.sorted() }
    public func shape(_ name: String) -> [Int]? { byHF[name]?.shape }
    public func floats(_ name: String) throws -> [Float] {
        guard let info = byHF[name] else { throw WeightLoadingError(source: file.path, reason: "no tensor for \(name)") }
        let values = file.floats(info)
        // llama.cpp's converter stores Gemma's norm weights as 1 + w (convert_hf_to_gguf.py, Gemma3Model:
        // `data_torch + 1` for every "norm.weight"); HF holds w (transformers' GGUF loader subtracts the 1, as here).
        if config.normAddsOne && name.hasSuffix("norm.weight") { return values.map { $0 - 1 } }
        // llama.cpp's converter interleaves q/k rows for its rotary kernel (llama architecture only).
        guard config.architecture == "llama" || config.architecture == "mistral" else { return values }
        let rows = info.shape[0], cols = info.shape.count > 1 ? info.shape[1] : 1
        if name.hasSuffix("self_attn.q_proj.weight") || name.hasSuffix("self_attn.q_proj.bias") {
            return GGUFLlamaPermutation.unpermute(values, rows: rows, columns: cols, heads: config.headCount)
        }
        if name.hasSuffix("self_attn.k_proj.weight") || name.hasSuffix("self_attn.k_proj.bias") {
            return GGUFLlamaPermutation.unpermute(values, rows: rows, columns: cols, heads: config.kvHeadCount)
        }
        return values
    }
}

/// A checkpoint that can hand over a 2-D tensor in the GGML blocks it stores (native quantization).
public protocol BlockWeightSource: WeightSource {
    /// The tensor `name` (rows, columns) in its stored blocks, in HF row order; nil when it is not stored in
    /// a quantized GGML type (then `floats` reads it).
    func blocks(_ name: String) throws -> GGMLMatrix?
}

extension GGUFWeights: BlockWeightSource {
    public func blocks(_ name: String) throws -> GGMLMatrix? {
        guard let info = file.tensor(named: GGUFTensorNames.ggufName(name, architecture: config.architecture) ?? ""),
              info.type.traits.isQuantized, info.shape.count == 2 else { return nil }
        let rows = info.shape[0], columns = info.shape[1]
        // llama.cpp's converter interleaves q/k rows (llama, mistral); whole rows of blocks move back.
        var order: [Int]? = nil
        if config.architecture == "llama" || config.architecture == "mistral" {
            let heads = name.hasSuffix("self_attn.q_proj.weight") ? config.headCount
                : name.hasSuffix("self_attn.k_proj.weight") ? config.kvHeadCount : nil
            if let heads {
                order = GGUFLlamaPermutation.unpermute((0..<rows).map(Float.init), rows: rows, columns: 1, heads: heads).map { Int($0) }
            }
        }
        do {
            return try GGMLMatrix(type: info.type, rows: rows, columns: columns, bytes: file.rawBytes(info), rowOrder: order)
        } catch {
            throw WeightLoadingError(source: file.path, reason: "tensor \(info.name): \(error)")
        }
    }
}

extension GGUFTensorNames {
    /// The GGUF name of an HF tensor name of `architecture` (the inverse of `hfName`).
    public static func ggufName(_ hf: String, architecture: String = "llama") -> String? {
        if let g = global.first(where: { $0.value == hf })?.key { return g }
        let parts = hf.split(separator: ".", maxSplits: 3)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let table = architecture == "gemma3" ? gemma3LayerParts + layerParts : layerParts
        guard let gguf = table.first(where: { $0.hf == parts[3] })?.gguf else { return nil }
        return "blk.\(layer).\(gguf)"
    }
}

/// How a checkpoint's projection weights (and an untied or tied vocabulary head) are held once loaded.
public enum WeightQuantization: Sendable, Equatable {
    /// Float32, as read.
    case none
    /// Quantized to NF4 as they are read (QLoRA's base).
    case nf4(doubleQuantization: Bool)
    /// Kept in the GGML blocks of a quantized GGUF (`Linear.Weight.ggml`): no Float32 copy; the products decode
    /// blocks as they go. Tensors stored unquantized (F32, F16, BF16; every safetensors tensor) load as Float32.
    /// With tied embeddings, the head (`lm_head`) reads the embedding's blocks; lookups read the Float32 table.
    case native
}

/// A safetensors checkpoint (single file or sharded) under its own (HF) names.
public final class SafetensorsWeights: WeightSource {
    public let checkpoint: SafetensorsCheckpoint
    public var path: String { checkpoint.directory }
    public init(directory: String) throws { checkpoint = try SafetensorsCheckpoint(directory: directory) }
    public var names: [String] { checkpoint.tensorNames.filter { !$0.hasSuffix("rotary_emb.inv_freq") } }
    public func shape(_ name: String) -> [Int]? { try? checkpoint.info(name).shape }
    public func floats(_ name: String) throws -> [Float] { try checkpoint.floats(name) }
}

/// Builds a linear layer from its checkpoint weight; the hook through which a base is quantized on load.
public typealias LinearFactory = (_ name: String, _ weight: Tensor, _ bias: Tensor?) throws -> Linear

extension LlamaModel {
    /// Dense Float32 linear layers.
    public static let denseLinear: LinearFactory = { _, w, b in try Linear(weight: w, bias: b) }

    /// Linear layers quantized to NF4 as they are read (QLoRA's frozen base): each Float32 weight lives
    /// only until its layer is quantized, so loading peaks at the quantized model plus one weight.
    public static func nf4Linear(doubleQuantization: Bool) -> LinearFactory {
        { _, w, b in
            let q = NF4Matrix(quantizing: UnsafeBufferPointer(start: w.data, count: w.count),
                              rows: w.shape[0], columns: w.shape[1], doubleQuantization: doubleQuantization)
            return try Linear(nf4: q, bias: b)
        }
    }

    /// Loads a checkpoint with its projections held as `quantization` says.
    ///
    ///     let model = try LlamaModel.load(path: gguf, quantization: .native)   // weights stay in their blocks
    public static func load(path: String, quantization: WeightQuantization) throws -> LlamaModel {
        switch quantization {
        case .none: return try load(path: path)
        case .nf4(let dq): return try load(path: path, linear: nf4Linear(doubleQuantization: dq))
        case .native: return try load(path: path, linear: denseLinear, nativeBlocks: true)
        }
    }

    /// The architecture of a `.gguf` file or of a directory holding `config.json`, read without its weights.
    public static func config(at path: String) throws -> ModelConfig {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw WeightLoadingError(source: path, reason: "no such file or directory")
        }
        if isDir.boolValue {
            return try ModelConfig(hf: try HFConfig.load(path: path + "/config.json"), source: path + "/config.json")
        }
        return try ModelConfig(gguf: try GGUFFile(path: path))
    }

    /// Loads a `.gguf` file, or a directory holding `config.json` and `model.safetensors` (or shards).
    /// With `nativeBlocks`, quantized GGUF projections stay in their blocks (see `WeightQuantization.native`).
    public static func load(path: String, linear: LinearFactory = denseLinear, nativeBlocks: Bool = false) throws -> LlamaModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw WeightLoadingError(source: path, reason: "no such file or directory")
        }
        if isDir.boolValue {
            return try load(config: try config(at: path), weights: try SafetensorsWeights(directory: path), linear: linear)
        }
        let file = try GGUFFile(path: path)
        let config = try ModelConfig(gguf: file)
        return try load(config: config, weights: try GGUFWeights(file, config: config), linear: linear, nativeBlocks: nativeBlocks)
    }

    /// Builds the model layer by layer from `weights`, strictly. With `nativeBlocks` and a `BlockWeightSource`,
    /// projections stored in quantized blocks stay in them (`Linear(blocks:)`), bypassing `linear`.
    public static func load(config c: ModelConfig, weights: WeightSource, linear: LinearFactory = denseLinear,
                            nativeBlocks: Bool = false) throws -> LlamaModel {
        let blockSource = nativeBlocks ? weights as? BlockWeightSource : nil
        var used = Set<String>()
        func take(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let s = weights.shape(name) else {
                throw WeightLoadingError(source: weights.path, reason: "missing tensor \(name) (expected shape \(shape))")
            }
            guard s == shape else {
                throw WeightLoadingError(source: weights.path, reason: "tensor \(name) has shape \(s), expected \(shape)")
            }
            used.insert(name)
            return try Tensor(try weights.floats(name), shape: shape)
        }
        func takeIfPresent(_ name: String, _ shape: [Int]) throws -> Tensor? {
            weights.shape(name) == nil ? nil : try take(name, shape)
        }
        /// The tensor `name` in its quantized blocks, when native loading applies to it; checked like `take`.
        func takeBlocks(_ name: String, _ shape: [Int]) throws -> GGMLMatrix? {
            guard let blockSource, let s = weights.shape(name), s == shape, let q = try blockSource.blocks(name) else { return nil }
            used.insert(name)
            return q
        }
        func proj(_ name: String, out: Int, in: Int, bias: Bool) throws -> Linear {
            if let q = try takeBlocks(name + ".weight", [out, `in`]) {
                let b = bias ? try take(name + ".bias", [out]) : try takeIfPresent(name + ".bias", [out])
                return try Linear(blocks: q, bias: b)
            }
            let w = try take(name + ".weight", [out, `in`])
            let b = bias ? try take(name + ".bias", [out]) : try takeIfPresent(name + ".bias", [out])
            return try linear(name, w, b)
        }
        let eps = Float(c.rmsNormEps), hd = c.headDim
        /// An RMSNorm from its checkpoint weight; with `normAddsOne` (Gemma: y = x̂ ⊙ (1 + w)) the 1 is added
        /// to the weight here, once, so the layer computes x̂ ⊙ w' with w' = 1 + w.
        func normLayer(_ name: String, _ dim: Int) throws -> NeuralNet.RMSNorm {
            let w = try take(name, [dim])
            return NeuralNet.RMSNorm(weight: c.normAddsOne ? w + 1 : w, eps: eps)
        }
        let embed = Embedding(table: try take("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]))
        var layers: [LlamaDecoderLayer] = []
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)"
            let attention = LlamaAttention(
                config: c, layer: i,
                q: try proj("\(p).self_attn.q_proj", out: c.headCount * hd, in: c.hiddenSize, bias: c.attentionBias),
                k: try proj("\(p).self_attn.k_proj", out: c.kvHeadCount * hd, in: c.hiddenSize, bias: c.attentionBias),
                v: try proj("\(p).self_attn.v_proj", out: c.kvHeadCount * hd, in: c.hiddenSize, bias: c.attentionBias),
                o: try proj("\(p).self_attn.o_proj", out: c.hiddenSize, in: c.headCount * hd, bias: false),
                qNorm: c.queryKeyNorm ? try normLayer("\(p).self_attn.q_norm.weight", hd) : nil,
                kNorm: c.queryKeyNorm ? try normLayer("\(p).self_attn.k_norm.weight", hd) : nil)
            let mlp = LlamaMLP(
                gate: try proj("\(p).mlp.gate_proj", out: c.intermediateSize, in: c.hiddenSize, bias: false),
                up: try proj("\(p).mlp.up_proj", out: c.intermediateSize, in: c.hiddenSize, bias: false),
                down: try proj("\(p).mlp.down_proj", out: c.hiddenSize, in: c.intermediateSize, bias: false),
                activation: c.activation)
            layers.append(LlamaDecoderLayer(
                attention: attention, mlp: mlp,
                inputNorm: try normLayer("\(p).input_layernorm.weight", c.hiddenSize),
                postNorm: try normLayer("\(p).post_attention_layernorm.weight", c.hiddenSize),
                preFeedforwardNorm: c.sandwichNorms ? try normLayer("\(p).pre_feedforward_layernorm.weight", c.hiddenSize) : nil,
                postFeedforwardNorm: c.sandwichNorms ? try normLayer("\(p).post_feedforward_layernorm.weight", c.hiddenSize) : nil))
        }
        let norm = try normLayer("model.norm.weight", c.hiddenSize)
        // Native and tied: the head reads the embedding's blocks (the Float32 table above serves lookups).
        let tiedBlocks = c.tiedEmbeddings ? try takeBlocks("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]) : nil
        let head = c.tiedEmbeddings ? try tiedBlocks.map { try Linear(blocks: $0) }
                                    : try proj("lm_head", out: c.vocabSize, in: c.hiddenSize, bias: false)
        if c.tiedEmbeddings, weights.shape("lm_head.weight") != nil {
            // Some tied checkpoints still store the head; it must equal the embedding, so it is not loaded.
            used.insert("lm_head.weight")
        }
        let unused = weights.names.filter { !used.contains($0) }
        guard unused.isEmpty else {
            throw WeightLoadingError(source: weights.path, reason: "unused tensors: \(unused.prefix(8).joined(separator: ", "))\(unused.count > 8 ? " … (\(unused.count) in all)" : "")")
        }
        let model = LlamaModel(config: c, body: LlamaBody(embed: embed, layers: layers, norm: norm), lmHead: head)
        model.setTrainable(false)
        // Weights a factory quantized were freed into the buffer cache; their sizes do not come back.
        releaseCachedBuffers()
        return model
    }
}
