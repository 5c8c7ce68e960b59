// Tensor: Float32, contiguous row-major storage with a shape; reshape is a view sharing storage.
// Not a lazy graph, not strided: every op materialises a contiguous result.
import Foundation
import Support

/// The error every op throws on bad shapes, axes or arguments. The message names the op and the shapes,
/// e.g. `matmul: inner dimensions differ: (2, 3) × (4, 5)`.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `(2, 3)` — the spelling used in every error message.
@inline(__always) func fmt(_ s: [Int]) -> String { "(" + s.map(String.init).joined(separator: ", ") + ")" }

/// Cache of freed buffers, so that repeated ops (a training step, a benchmark loop) do not pay page faults
/// for fresh large allocations. Thread-safe; capped in bytes.
///
/// Buffers of 4,096 floats or more are allocated in size classes (`capacity(for:)`: four a power of two,
/// at most a quarter larger than asked), and a freed buffer serves any later request of its class. Training
/// steps change size with every prefix group (rows × features), so exact sizes would rarely meet again.
final class BufferCache: @unchecked Sendable {
    static let shared = BufferCache()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var cachedBytes = 0
    /// An eighth of the machine's memory, between 1 and 4 GiB. A 4×512 SmolLM2 training step frees 0.8 GB of
    /// logits and their gradient alone; with a fixed 1 GiB cap most of the step's other activations did not fit,
    /// were unmapped and faulted in again at every step (about a tenth of the step's CPU time in page faults).
    private let capBytes = min(4 << 30, max(1 << 30, Int(ProcessInfo.processInfo.physicalMemory / 8)))
    private var lock = pthread_mutex_t()
    init() { pthread_mutex_init(&lock, nil) }

    /// Floats allocated for a request of `n`: `n` itself below 4,096; above, the least of 2^k·{1, 5/4, 3/2, 7/4}
    /// that holds `n`.
    static func capacity(for n: Int) -> Int {
        guard n >= 4096 else { return max(n, 1) }
        let top = Int.bitWidth - 1 - (n - 1).leadingZeroBitCount       // 2^top ≤ n − 1 < 2^(top+1)
        let quarter = 1 << (top - 2)
        return ((n - 1) / quarter + 1) * quarter
    }

    func take(_ n: Int) -> UnsafeMutablePointer<Float> {
        let c = Self.capacity(for: n)
        pthread_mutex_lock(&lock)
        if var list = free[c], let p = list.popLast() {
            free[c] = list; cachedBytes -= c * 4
            pthread_mutex_unlock(&lock); return p
        }
        pthread_mutex_unlock(&lock)
        return UnsafeMutablePointer<Float>.allocate(capacity: c)
    }
    /// Frees every kept buffer.
    func release() {
        pthread_mutex_lock(&lock)
        let all = free.values.flatMap { $0 }
        free = [:]; cachedBytes = 0
        pthread_mutex_unlock(&lock)
        for p in all { p.deallocate() }
    }
    /// Takes back a buffer that `take(n)` gave.
    func give(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        let c = Self.capacity(for: n)
        pthread_mutex_lock(&lock)
        if c >= 4096 && cachedBytes + c * 4 <= capBytes {
            free[c, default: []].append(p); cachedBytes += c * 4
            pthread_mutex_unlock(&lock); return
        }
        pthread_mutex_unlock(&lock)
        p.deallocate()
    }
}

/// Frees the buffers that freed tensors left for reuse. For the end of a phase whose sizes will not come
/// back, such as loading a model whose Float32 weights were quantized as they were read: otherwise up to
/// 1 GiB of them stays resident through training.
///
///     let model = try LlamaModel.load(path: p, linear: LlamaModel.nf4Linear(doubleQuantization: true))  // calls it
public func releaseCachedBuffers() { BufferCache.shared.release() }

/// Owned Float32 buffer. Several tensors (reshape views) may share one.
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    init(uninitialized count: Int) { self.count = count; pointer = BufferCache.shared.take(count) }
    init(zeros count: Int) { self.count = count; pointer = BufferCache.shared.take(count); pointer.initialize(repeating: 0, count: count) }
    deinit { BufferCache.shared.give(pointer, count) }
}

/// A Float32 tensor with a shape, contiguous and row-major.
///
///     let x = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
///     let w = Tensor.randn([3, 4], seed: 7, requiresGrad: true)
///     let y = try matmul(x, w)            // (2, 4)
public final class Tensor: CustomStringConvertible {
    public let storage: Storage
    public let shape: [Int]
    public let count: Int
    /// Leaves with `requiresGrad` receive `grad` in `backward()`; op results inherit it from their inputs.
    public var requiresGrad: Bool
    /// Accumulated gradient (same shape). `nil` until the first backward that reaches this tensor.
    public var grad: Tensor?
    /// The tape node that produced this tensor (nil for leaves and for results computed without recording).
    var node: Node?

    init(storage: Storage, shape: [Int], requiresGrad: Bool = false) {
        self.storage = storage; self.shape = shape
        self.count = shape.reduce(1, *); self.requiresGrad = requiresGrad
    }
    /// Uninitialised contents: for kernels that write every element.
    init(uninitialized shape: [Int]) {
        let n = shape.reduce(1, *)
        storage = Storage(uninitialized: n); self.shape = shape; count = n; requiresGrad = false
    }
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(storage: Storage(zeros: shape.reduce(1, *)), shape: shape, requiresGrad: requiresGrad)
    }
    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape); t.storage.pointer.initialize(repeating: value, count: t.count)
        t.requiresGrad = requiresGrad; return t
    }
    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor { full(shape, 1, requiresGrad: requiresGrad) }
    public static func scalar(_ v: Float, requiresGrad: Bool = false) -> Tensor { full([], v, requiresGrad: requiresGrad) }

    /// From values and a shape; throws when `values.count` ≠ product of `shape`.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) throws {
        guard shape.allSatisfy({ $0 >= 0 }), values.count == shape.reduce(1, *) else {
            throw TensorError("Tensor: \(values.count) values do not fill shape \(fmt(shape))")
        }
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
        self.requiresGrad = requiresGrad
    }
    /// Normal(0, std²) values from a seeded generator (Box–Muller over SplitMix64).
    public static func randn(_ shape: [Int], std: Float = 1, generator: inout SplitMix64, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape); let p = t.storage.pointer
        for i in 0..<t.count { p[i] = std * generator.nextNormal() }
        t.requiresGrad = requiresGrad; return t
    }
    public static func randn(_ shape: [Int], std: Float = 1, seed: UInt64, requiresGrad: Bool = false) -> Tensor {
        var g = SplitMix64(seed: seed); return randn(shape, std: std, generator: &g, requiresGrad: requiresGrad)
    }
    /// Uniform values in [low, high) from a seeded generator.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, generator: inout SplitMix64, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape); let p = t.storage.pointer
        for i in 0..<t.count { p[i] = low + (high - low) * generator.nextFloat() }
        t.requiresGrad = requiresGrad; return t
    }
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, seed: UInt64, requiresGrad: Bool = false) -> Tensor {
        var g = SplitMix64(seed: seed); return uniform(shape, low: low, high: high, generator: &g, requiresGrad: requiresGrad)
    }

    public var rank: Int { shape.count }
    /// Raw pointer to the first element (contiguous, `count` elements).
    public var data: UnsafeMutablePointer<Float> { storage.pointer }
    /// A copy of the values.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    /// The single value of a one-element tensor.
    public var item: Float { data[0] }
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: data, count: count))
    }
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: data, count: count))
    }
    /// Deep copy of the values (not recorded).
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape); t.data.update(from: data, count: count); return t
    }
    /// Same storage, cut from the tape: gradients do not flow through the result.
    public func detach() -> Tensor { Tensor(storage: storage, shape: shape) }
    /// Same storage and shape, no node: what backward closures capture of their own output
    /// (capturing the output itself would be a retain cycle through its node).
    func alias() -> Tensor { Tensor(storage: storage, shape: shape) }
    /// Clear the accumulated gradient.
    public func zeroGrad() { grad = nil }

    public var description: String {
        let vals = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(fmt(shape))[\(vals)\(count > 8 ? ", …" : "")]"
    }
}
