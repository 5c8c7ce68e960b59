// Basic layers: Linear, Embedding, RMSNorm, Dropout. Quantized weights and LoRA adapters are added
// elsewhere as new `Linear.Weight` cases / wrappers, not as subclasses.
import Autograd
import Quantization
import Support

/// y = x·Wᵀ + b      x: (…, in)   W: (out, in)   b: (out)   →   y: (…, out)
///
///     var g = SplitMix64(seed: 0)
///     let proj = Linear(inFeatures: 576, outFeatures: 192, bias: false, generator: &g)
///     let y = try proj(x)                       // (B, T, 576) → (B, T, 192)
public final class Linear: UnaryLayer {
    /// How the weight is stored: Float32 (trainable), NF4 or GGML blocks (frozen).
    public enum Weight: ParameterContainer {
        case dense(Parameter)
        /// A frozen 4-bit NormalFloat weight (QLoRA); not a parameter: nothing trains it.
        case nf4(NF4Matrix)
        /// A frozen weight in the GGML blocks of its GGUF file (native quantization); not a parameter.
        case ggml(GGMLMatrix)
        public func namedParameters(prefix: String) -> [(String, Parameter)] {
            switch self {
            case .dense(let p): return [(prefix, p)]
            case .nf4, .ggml: return []
            }
        }
    }
    @Child("weight") public var weight: Weight
    @Child("bias") public var bias: Parameter?
    public let inFeatures: Int, outFeatures: Int
    /// Named low-rank adapters (LoRA.swift); at most one is active. Keys: `lora_A.<name>.weight`, …
    public internal(set) var adapters: [String: LoRA] = [:]
    /// The adapter added to the output, if any (nil: the base layer alone).
    public var activeAdapter: String?
    /// The adapter currently folded into a dense weight (then not added again at run time).
    public internal(set) var mergedAdapter: String?

    /// Weight and bias from U(−1/√in, 1/√in), as torch.nn.Linear does.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, generator: inout SplitMix64) {
        let k = 1 / Float(inFeatures).squareRoot()
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = .dense(Parameter(Tensor.uniform([outFeatures, inFeatures], low: -k, high: k, generator: &generator)))
        self.bias = bias ? Parameter(Tensor.uniform([outFeatures], low: -k, high: k, generator: &generator)) : nil
    }
    /// From existing tensors: weight (out, in), bias (out).
    public init(weight w: Tensor, bias b: Tensor? = nil) throws {
        guard w.rank == 2 else { throw TensorError("Linear: weight must be (out, in), got \(w.shape)") }
        if let b, b.shape != [w.shape[0]] { throw TensorError("Linear: bias \(b.shape) does not match weight \(w.shape)") }
        outFeatures = w.shape[0]; inFeatures = w.shape[1]
        weight = .dense(Parameter(w)); bias = b.map { Parameter($0) }
    }
    /// A frozen NF4 weight (out, in) and an optional bias.
    public init(nf4 w: NF4Matrix, bias b: Tensor? = nil) throws {
        if let b, b.shape != [w.rows] { throw TensorError("Linear: bias \(b.shape) does not match NF4 weight \(w.rows)×\(w.columns)") }
        outFeatures = w.rows; inFeatures = w.columns
        weight = .nf4(w); bias = b.map { Parameter($0, trainable: false) }
    }

    /// A frozen weight (out, in) in GGML blocks, as a GGUF file holds it, and an optional bias.
    ///
    ///     let q = try GGMLMatrix(type: .q4_1, rows: 576, columns: 576, bytes: raw)
    ///     let proj = try Linear(blocks: q)
    ///     let y = try proj(x)                       // (N, 576) → (N, 576); dx flows back, W stays frozen
    public init(blocks w: GGMLMatrix, bias b: Tensor? = nil) throws {
        if let b, b.shape != [w.rows] { throw TensorError("Linear: bias \(b.shape) does not match \(w.type) weight \(w.rows)×\(w.columns)") }
        outFeatures = w.rows; inFeatures = w.columns
        weight = .ggml(w); bias = b.map { Parameter($0, trainable: false) }
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.shape.last == inFeatures else {
            throw TensorError("Linear: input \(x.shape) does not end in \(inFeatures) features")
        }
        var y: Tensor
        switch weight {
        case .dense(let w): y = try StepProfile.measure(.denseProducts) { try matmul(x, w.value, transposeB: true) }
        case .nf4(let w): y = try StepProfile.measure(.quantizedProducts) { try nf4Linear(x, weight: w) }
        case .ggml(let w): y = try StepProfile.measure(.quantizedProducts) { try ggmlLinear(x, weight: w) }
        }
        if let bias { y = try y + bias.value }
        if let name = activeAdapter, name != mergedAdapter {
            guard let lora = adapters[name] else { throw TensorError("Linear: no adapter named '\(name)'") }
            y = try StepProfile.measure(.lora) { try lora.adding(to: y, input: x) }
        }
        return y
    }

    /// The outputs `ids` of this layer for x (n, in), n ≤ 16, no tape: (n, ids.count), equal bit for bit to
    /// those columns of `callAsFunction(x)`, by the fused kernel of a frozen block weight (the same kernel and
    /// row count as the whole product). Nil where that does not hold: a dense weight (its product is one
    /// sgemm, whose sums need not match a product over fewer rows), a bias, an active adapter, more rows,
    /// or a format without a fused kernel. A constrained decoding step uses it for the vocabulary head.
    public func selectedOutputs(_ x: Tensor, ids: [Int]) -> Tensor? {
        guard bias == nil, activeAdapter == nil || activeAdapter == mergedAdapter,
              x.shape.count == 2, x.shape[1] == inFeatures, x.shape[0] >= 1, x.shape[0] <= fusedProductMaxRows else { return nil }
        let n = x.shape[0], y = Tensor.zeros([n, ids.count])
        let done: Bool
        switch weight {
        case .dense: return nil
        case .nf4(let w): done = w.fusedProduct(x.data, m: n, rows: ids, into: y.data, instructions: .current)
        case .ggml(let w): done = w.fusedProduct(x.data, m: n, rows: ids, into: y.data, instructions: .current)
        }
        return done ? y : nil
    }
}

/// Rows of a (V, C) table picked by token ids.   ids: N (or shape)   →   (N, C) (or shape + [C])
///
///     let emb = Embedding(vocabulary: 49152, dimension: 576, generator: &g)
///     let h = try emb(ids, shape: [B, T])       // (B, T, 576)
public final class Embedding: Module {
    @Child("weight") public var weight: Parameter
    public init(vocabulary: Int, dimension: Int, generator: inout SplitMix64) {
        weight = Parameter(Tensor.randn([vocabulary, dimension], generator: &generator))
    }
    public init(table: Tensor) { weight = Parameter(table) }
    public func callAsFunction(_ ids: [Int32], shape: [Int]? = nil) throws -> Tensor {
        try embedding(weight.value, ids: ids, shape: shape)
    }
}

/// y = x / √(mean(x²) + eps) ⊙ w over the last axis.   x: (…, C)   w: (C)
///
///     let norm = RMSNorm(dimension: 576, eps: 1e-5)
///     let h = try norm(x)
public final class RMSNorm: UnaryLayer {
    @Child("weight") public var weight: Parameter
    public let eps: Float
    public init(dimension: Int, eps: Float = 1e-5) { self.eps = eps; weight = Parameter(Tensor.ones([dimension])) }
    public init(weight w: Tensor, eps: Float = 1e-5) { self.eps = eps; weight = Parameter(w) }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try rmsNorm(x, weight: weight.value, eps: eps) }
}

/// Inverted dropout with its own seeded generator; identity when `training` is false or p = 0.
///
///     let drop = Dropout(p: 0.1, seed: 1)
///     let h = try drop(x)
public final class Dropout: UnaryLayer {
    public let p: Float
    public var training = true
    /// Generator state; save `generator.state` to resume a run exactly.
    public var generator: SplitMix64
    public init(p: Float, seed: UInt64 = 0) { self.p = p; generator = SplitMix64(seed: seed) }
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard training, p > 0 else { return x }
        return try dropout(x, p: p, generator: &generator)
    }
}
