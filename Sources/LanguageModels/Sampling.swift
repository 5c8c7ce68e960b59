// Choosing the next token from one row of logits: greedy, temperature, top-k and top-p (nucleus).
// Pure functions over a logits row and a caller-owned random generator; no tensors, no model.
import Foundation

/// How the next token is chosen. `temperature == 0` is greedy (argmax, lowest id on ties).
///
///     var rng = SplitMix64(seed: 7)
///     let next = SamplingOptions(temperature: 0.7, topK: 40, topP: 0.9).sample(logits, using: &rng)
public struct SamplingOptions: Sendable, Equatable, Codable {
    public var temperature: Float
    /// Keep only the `topK` most likely tokens (0 = no limit).
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches `topP` (1 = no limit).
    public var topP: Float

    public static let greedy = SamplingOptions(temperature: 0, topK: 0, topP: 1)

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    public var isGreedy: Bool { temperature <= 0 }

    /// The index of the largest logit; the lowest index wins a tie (as `torch.argmax` does).
    public static func argmax<C: RandomAccessCollection>(_ logits: C) -> Int where C.Element == Float, C.Index == Int {
        var best = logits.startIndex
        var bestValue = -Float.infinity
        for i in logits.indices where logits[i] > bestValue {
            bestValue = logits[i]
            best = i
        }
        return best - logits.startIndex
    }

    /// Draws one token id among `allowed` (sorted ids): the others' logits count as −∞. Greedy picks the
    /// allowed token with the largest logit (the lowest id on ties), as `argmax` over the masked row would.
    public func sample<G: RandomNumberGenerator>(_ logits: UnsafeBufferPointer<Float>, among allowed: [Int],
                                                 using rng: inout G) -> Int {
        precondition(!allowed.isEmpty, "sample(among:) needs at least one allowed token")
        if allowed.count == 1 { return allowed[0] }
        if isGreedy {
            var best = allowed[0], bestValue = -Float.infinity
            for id in allowed where logits[id] > bestValue { bestValue = logits[id]; best = id }
            return best
        }
        var masked = [Float](repeating: -.infinity, count: logits.count)
        for id in allowed { masked[id] = logits[id] }
        return sample(masked, using: &rng)
    }

    /// Draws one token id from `logits` (one row, length V).
    public func sample<C: RandomAccessCollection, G: RandomNumberGenerator>(
        _ logits: C, using rng: inout G
    ) -> Int where C.Element == Float, C.Index == Int {
        if isGreedy { return Self.argmax(logits) }
        let base = logits.startIndex
        // Candidates sorted by logit, descending; ties broken by the lower id for reproducibility.
        var order = Array(0..<logits.count)
        order.sort { a, b in
            let la = logits[base + a], lb = logits[base + b]
            return la != lb ? la > lb : a < b
        }
        if topK > 0 && topK < order.count { order.removeSubrange(topK...) }
        let maxLogit = logits[base + order[0]]
        var probs = order.map { Double(expf((logits[base + $0] - maxLogit) / temperature)) }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        if topP < 1 {
            var cumulative = 0.0
            var keep = probs.count
            for (i, p) in probs.enumerated() {
                cumulative += p
                if cumulative >= Double(topP) { keep = i + 1; break }
            }
            probs.removeSubrange(keep...)
            order.removeSubrange(keep...)
        }
        let mass = probs.reduce(0, +)
        var u = Double.random(in: 0..<1, using: &rng) * mass
        for (i, p) in probs.enumerated() {
            u -= p
            if u < 0 { return order[i] }
        }
        return order[probs.count - 1]
    }
}
