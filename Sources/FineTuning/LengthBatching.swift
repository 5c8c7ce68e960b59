// A document's training questions cut into batches that share its prefix: the contiguous cuts, in one of
// two orders, that compute the fewest tokens (prefix runs, shared stems, padding). Not tokenization: the
// prompt format (RHF) encodes the examples and calls this per prefix.
import Foundation

/// Training examples as prefix groups, and what did not fit.
public struct EncodedExamples {
    public var groups: [PrefixGroup]
    /// Examples longer than the cutoff, left out.
    public var dropped: Int
    public var examples: Int
    /// What each group asks (for DocRE, its stage), parallel to `groups`; empty when not known. A step's
    /// loss is judged for spikes among steps of the same kind (`KeyedLossSpikeDetector`).
    public var labels: [String]
    public var tokens: Int { groups.reduce(0) { $0 + $1.tokenCount } }
    public init(groups: [PrefixGroup], dropped: Int, examples: Int, labels: [String] = []) {
        precondition(labels.isEmpty || labels.count == groups.count, "one label per group")
        self.groups = groups; self.dropped = dropped; self.examples = examples; self.labels = labels
    }

    /// The kind of a batch of groups (indices): its groups' labels, sorted and joined by "+" ("" unlabelled).
    public func label(of batch: [Int]) -> String {
        Set(batch.map { labels.indices.contains($0) ? labels[$0] : "" }).sorted().joined(separator: "+")
    }
}

extension PrefixGroup {
    /// The continuations of one prefix split into batches: in an order, cut into the contiguous batches
    /// (each at most `maxQuestions`) that compute the fewest tokens, counting each batch's own run of the
    /// prefix, its stems (runs several questions share, `StemTree`) and its padding (a small dynamic
    /// program). Two orders are tried, by length and by prompt (which puts the questions that share a stem
    /// side by side); the cheaper wins, length on a tie.
    ///
    ///     lengths 40, 42, 45, 190, 200, prefix 300  → [40, 42, 45] [190, 200]   (1135 tokens, not 1300)
    ///     the same with a prefix of 1000            → one batch                  (2000 tokens, not 2535)
    public static func lengthBatches(_ conts: [Continuation], prefixLength p: Int, maxQuestions: Int,
                                     stemMinimum: Int = StemTree.defaultMinimum) -> [[Continuation]] {
        guard !conts.isEmpty else { return [] }
        let byLength = conts.sorted { ($0.prompt.count + $0.answer.count) < ($1.prompt.count + $1.answer.count) }
        let a = cheapestCuts(byLength, prefixLength: p, maxQuestions: maxQuestions, stemMinimum: stemMinimum)
        guard stemMinimum < Int.max else { return a.batches }
        let byPrompt = conts.sorted { $0.prompt.lexicographicallyPrecedes($1.prompt) || ($0.prompt == $1.prompt && $0.answer.count < $1.answer.count) }
        let b = cheapestCuts(byPrompt, prefixLength: p, maxQuestions: maxQuestions, stemMinimum: stemMinimum)
        return b.cost < a.cost ? b.batches : a.batches
    }

    static func cheapestCuts(_ sorted: [Continuation], prefixLength p: Int, maxQuestions: Int,
                             stemMinimum: Int) -> (batches: [[Continuation]], cost: Int) {
        let n = sorted.count, limit = max(1, maxQuestions)
        let prefix = [Int](repeating: 0, count: p)
        // cost[i]: fewest tokens for the first i continuations; from[i]: where its last batch starts
        var cost = [Int](repeating: .max, count: n + 1), from = [Int](repeating: 0, count: n + 1)
        cost[0] = 0
        for i in 1...n {
            for j in max(0, i - limit)..<i where cost[j] != .max {
                let c = cost[j] + PrefixGroup(prefix: prefix, continuations: Array(sorted[j..<i])).computedTokenCount(stemMinimum: stemMinimum)
                if c < cost[i] { cost[i] = c; from[i] = j }
            }
        }
        var batches: [[Continuation]] = [], i = n
        while i > 0 { batches.append(Array(sorted[from[i]..<i])); i = from[i] }
        return (batches.reversed(), cost[n])
    }
}
