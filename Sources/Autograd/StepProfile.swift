// Where the time of a model step goes, for `autore-bench generate`: seconds per part, summed while switched
// on. Off (the default) a measurement is one branch. Not a tracer: only the outermost measurement of the
// calling thread counts, so a part measured inside another (the vocabulary head's product) belongs to the outer.
import Foundation

/// Seconds spent per part of a decoding step while `isOn`.
///
///     StepProfile.start()
///     _ = try model.generate(prompt: ids, options: opts)
///     let parts = StepProfile.stop()          // [.quantizedProducts: 0.41, .attention: 0.03, …]
public enum StepProfile {
    public enum Part: Int, CaseIterable, Sendable, CustomStringConvertible {
        /// Products with weights in quantized blocks (GGML, NF4).
        case quantizedProducts
        /// Products with Float32 weights.
        case denseProducts
        /// Attention of new queries over the cached keys and values.
        case attention
        /// LoRA branches (x·Aᵀ·Bᵀ and the sum).
        case lora
        /// The logits of the vocabulary (lm_head or the tied embedding).
        case vocabularyHead
        /// Choosing the next tokens from the logits.
        case sampling
        /// The tokens each constrained answer may take next (`TokenConstraint.allowedTokens`).
        case constraints
        public var description: String {
            switch self {
            case .quantizedProducts: "quantized matmuls"
            case .denseProducts: "dense matmuls"
            case .attention: "attention over the cache"
            case .lora: "LoRA branch"
            case .vocabularyHead: "vocabulary head"
            case .sampling: "sampling"
            case .constraints: "answer constraints"
            }
        }
    }

    nonisolated(unsafe) public private(set) static var isOn = false
    nonisolated(unsafe) static var seconds = [Double](repeating: 0, count: Part.allCases.count)
    nonisolated(unsafe) static var owner: pthread_t?
    nonisolated(unsafe) static var inside = false

    /// Clears the sums and starts measuring on the calling thread.
    public static func start() {
        seconds = [Double](repeating: 0, count: Part.allCases.count)
        owner = pthread_self(); inside = false; isOn = true
    }

    /// Stops measuring and returns the seconds per part.
    @discardableResult public static func stop() -> [Part: Double] {
        isOn = false; owner = nil
        return Dictionary(uniqueKeysWithValues: Part.allCases.map { ($0, seconds[$0.rawValue]) })
    }

    /// Runs `body`, adding its seconds to `part` when measuring on this thread and no outer measurement is running.
    @inline(__always)
    public static func measure<T>(_ part: Part, _ body: () throws -> T) rethrows -> T {
        guard isOn else { return try body() }
        return try measured(part, body)
    }

    @inline(never)
    static func measured<T>(_ part: Part, _ body: () throws -> T) rethrows -> T {
        guard !inside, let owner, pthread_equal(owner, pthread_self()) != 0 else { return try body() }
        inside = true
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer {
            seconds[part.rawValue] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            inside = false
        }
        return try body()
    }
}
