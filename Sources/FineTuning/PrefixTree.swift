// The training loss of many questions about one document as a prefix tree: the document (prefix) is
// run once; questions that share a long run of tokens after it (the facts stage's "relation and its
// description" asked for several subjects) have that run computed once as a stem; every question + answer
// continues from the keys/values of its ancestors, which stay on the tape so that their gradients reach
// the adapter too. Loss on answer tokens only; logits only at those rows, a chunk of rows at a time.
// Not the trainer loop (batching across documents, optimizer, checkpoints live elsewhere).
import Autograd
import Foundation
import LanguageModels

/// One question (prompt tokens after the shared prefix) and the answer the model should write.
public struct Continuation: Sendable, Equatable, Codable {
    public var prompt: [Int]
    public var answer: [Int]
    public init(prompt: [Int], answer: [Int]) { self.prompt = prompt; self.answer = answer }
}

/// Continuations sharing one prefix: a document and the stage questions asked about it.
public struct PrefixGroup: Sendable, Equatable, Codable {
    public var prefix: [Int]
    public var continuations: [Continuation]
    public init(prefix: [Int], continuations: [Continuation]) { self.prefix = prefix; self.continuations = continuations }

    /// Tokens the model reads for this group (the prefix counted once).
    public var tokenCount: Int { prefix.count + continuations.reduce(0) { $0 + $1.prompt.count + $1.answer.count } }
    /// Tokens the loss is taken on.
    public var answerTokenCount: Int { continuations.reduce(0) { $0 + $1.answer.count } }
}

public struct TrainingDataError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// The continuations of a group arranged below its prefix: runs of prompt tokens shared by several
/// continuations become stems (at least `minimum` tokens each, nested when the sharing is), and each
/// continuation keeps the prompt tokens after its deepest stem (at least one).
///
///     prompts  Q R1 s1 · Q R1 s2 · Q R2 s3     (R1, R2 ≥ minimum tokens; Q shorter)
///     stems    [Q R1]                            leaves  s1 (after stem 0) · s2 (after stem 0) · Q R2 s3
public struct StemTree: Equatable, Sendable {
    public struct Stem: Equatable, Sendable {
        public var tokens: [Int]
        public var parent: Int?
        public var depth: Int
    }
    public var stems: [Stem] = []
    /// Runs of at least this many prompt tokens shared by several continuations are computed once in
    /// training: shorter ones cost a forward pass of their own for little.
    public static let defaultMinimum = 16
    /// Per continuation: its deepest stem (nil: it continues the prefix directly) and its remaining prompt.
    public var leafStem: [Int?]
    public var leafPrompt: [[Int]]

    public init(prompts: [[Int]], minimum: Int) {
        leafStem = Array(repeating: nil, count: prompts.count)
        leafPrompt = prompts
        place(Array(prompts.indices), from: 0, parent: nil, depth: 0, prompts: prompts, minimum: Swift.max(1, minimum))
    }

    /// `ids` agree on nothing known after `start`, where their parent stem ends.
    mutating func place(_ ids: [Int], from start: Int, parent: Int?, depth: Int, prompts: [[Int]], minimum: Int) {
        // a prompt with too few tokens left for a stem of `minimum` plus one of its own stays a leaf here
        var rest: [Int] = []
        for i in ids {
            if ids.count > 1 && prompts[i].count - start > minimum { rest.append(i) } else { leaf(i, parent, start, prompts) }
        }
        guard rest.count > 1 else { for i in rest { leaf(i, parent, start, prompts) }; return }
        let first = prompts[rest[0]]
        var l = 0
        let cap = rest.map { prompts[$0].count - start - 1 }.min()!
        while l < cap, rest.allSatisfy({ prompts[$0][start + l] == first[start + l] }) { l += 1 }
        if l >= minimum {
            stems.append(Stem(tokens: Array(first[start..<(start + l)]), parent: parent, depth: depth))
            place(rest, from: start + l, parent: stems.count - 1, depth: depth + 1, prompts: prompts, minimum: minimum)
            return
        }
        // The shared run is too short to be a stem: split where the prompts part (l < cap, so they do),
        // and look for longer runs within each part, still starting at `start`.
        var parts: [Int: [Int]] = [:], order: [Int] = []
        for i in rest {
            let t = prompts[i][start + l]
            if parts[t] == nil { order.append(t) }
            parts[t, default: []].append(i)
        }
        for t in order { place(parts[t]!, from: start, parent: parent, depth: depth, prompts: prompts, minimum: minimum) }
    }

    mutating func leaf(_ i: Int, _ parent: Int?, _ start: Int, _ prompts: [[Int]]) {
        leafStem[i] = parent
        leafPrompt[i] = Array(prompts[i][start...])
    }

    /// The stems on the path from the prefix to `stem`, outermost first.
    public func path(_ stem: Int?) -> [Int] {
        var out: [Int] = [], s = stem
        while let x = s { out.append(x); s = stems[x].parent }
        return out.reversed()
    }

    public var depth: Int { (stems.map(\.depth).max() ?? -1) + 1 }
}

extension PrefixGroup {
    /// Tokens a step computes for this group, padding included, with stems of at least `minimum` tokens:
    /// the prefix, each level of stems padded to its longest, every rest of a question + answer padded to
    /// the longest.
    public func computedTokenCount(stemMinimum minimum: Int) -> Int {
        guard !continuations.isEmpty else { return prefix.count }
        let tree = StemTree(prompts: continuations.map(\.prompt), minimum: minimum)
        var levels: [Int: (count: Int, longest: Int)] = [:]
        for s in tree.stems { let l = levels[s.depth] ?? (0, 0); levels[s.depth] = (l.count + 1, max(l.longest, s.tokens.count)) }
        let leaves = zip(tree.leafPrompt, continuations).map { $0.0.count + $0.1.answer.count }.max()!
        return prefix.count + levels.values.reduce(0) { $0 + $1.count * $1.longest } + continuations.count * leaves
    }
}

extension LlamaModel {
    /// Mean next-token cross-entropy over the answer tokens of every continuation in `group`.
    ///
    ///     prefix (1, P) → keys/values (recorded)
    ///     stems of depth d (S_d, L_d) right-padded, attending to the prefix and their ancestor stems
    ///     [rest of prompt_i ++ answer_i] right-padded to (B, T), attending to the prefix and its stems
    ///     loss = mean over answer positions of −log p(token | everything before it)
    ///
    /// Equal to running every `prefix ++ prompt_i ++ answer_i` on its own, at a fraction of the cost.
    /// `stemMinimum: Int.max` shares the prefix only.
    public func answerLoss(_ group: PrefixGroup, stemMinimum: Int = StemTree.defaultMinimum) throws -> Tensor {
        let b = group.continuations.count
        guard b > 0 else { throw TrainingDataError(reason: "answerLoss: a prefix group without continuations") }
        for (i, c) in group.continuations.enumerated() where c.prompt.isEmpty || c.answer.isEmpty {
            throw TrainingDataError(reason: "answerLoss: continuation \(i) has an empty \(c.prompt.isEmpty ? "prompt" : "answer")")
        }
        var pasts: [PastSegment] = []
        if !group.prefix.isEmpty {
            pasts.append(PastSegment(try forward(ids: group.prefix.map(Int32.init), batch: 1, length: group.prefix.count).present))
        }
        let tree = StemTree(prompts: group.continuations.map(\.prompt), minimum: stemMinimum)
        // Stems level by level; a stem's row within its level.
        let levels = (0..<tree.depth).map { d in tree.stems.indices.filter { tree.stems[$0].depth == d } }
        var rowInLevel = [Int](repeating: 0, count: tree.stems.count)
        for level in levels { for (r, s) in level.enumerated() { rowInLevel[s] = r } }
        /// The past segments of the stem levels above `depth`, for rows whose deepest stems are `deepest`.
        func stemPasts(_ levelKV: [[LayerKV]], below deepest: [Int?]) -> [PastSegment] {
            let paths = deepest.map { tree.path($0) }
            return levelKV.enumerated().map { d, kv in
                PastSegment(kv, rows: paths.map { $0.count > d ? rowInLevel[$0[d]] : 0 },
                            lengths: paths.map { $0.count > d ? tree.stems[$0[d]].tokens.count : 0 })
            }
        }
        var levelKV: [[LayerKV]] = []
        for level in levels {
            let l = level.map { tree.stems[$0].tokens.count }.max()!
            var ids = [Int32](repeating: 0, count: level.count * l)
            for (r, s) in level.enumerated() { for (j, tok) in tree.stems[s].tokens.enumerated() { ids[r * l + j] = Int32(tok) } }
            let above = stemPasts(levelKV, below: level.map { tree.stems[$0].parent })
            levelKV.append(try forward(ids: ids, batch: level.count, length: l, pasts: pasts + above).present)
        }

        let sequences = zip(tree.leafPrompt, group.continuations).map { $0 + $1.answer }
        let t = sequences.map(\.count).max()!
        var ids = [Int32](repeating: 0, count: b * t)
        var rows: [Int] = [], targets: [Int32] = []
        for (i, (s, prompt)) in zip(sequences, tree.leafPrompt).enumerated() {
            for (j, tok) in s.enumerated() { ids[i * t + j] = Int32(tok) }
            // Row j predicts token j + 1; answer tokens sit at j + 1 ≥ prompt length.
            for j in (prompt.count - 1)..<(s.count - 1) {
                rows.append(i * t + j)
                targets.append(Int32(s[j + 1]))
            }
        }
        let hidden = try forward(ids: ids, batch: b, length: t, pasts: pasts + stemPasts(levelKV, below: tree.leafStem)).hidden
        let picked = try gather(hidden.reshaped([b * t, config.hiddenSize]), axis: 0, indices: rows)
        return try headLoss(picked, targets: targets)
    }

    /// Whether no parameter of the head (lm_head, or the tied embedding table) is trained.
    var headIsFrozen: Bool {
        if let lmHead { return lmHead.trainableParameters().isEmpty }
        return !body.embedTokens.weight.trainable
    }

    /// Mean next-token cross-entropy of the head at `hidden` (N, C) rows against `targets` (N), `chunkRows`
    /// rows at a time, so that at most chunkRows × V logits exist at once (never N × V):
    ///
    ///     loss = Σ_c n_c · CE_c / N        CE_c = mean over chunk c's n_c rows of logsumexp(z) − z[target],  z = h_c·Wᵀ
    ///     dh_c = n_c / N · ∂CE_c/∂h_c = (softmax(z) − onehot(target)) · W / N
    ///
    /// With a frozen head, dh_c is taken while chunk c's logits exist (a small tape of its own) and kept
    /// (N × C in all); backward scales it by the incoming gradient, so the head's products run as often as
    /// unchunked. With a trained head (LoRA on lm_head, a trained embedding) each chunk is a checkpoint whose
    /// logits backward computes again, so that the head's parameters get their gradients in the sweep.
    ///
    ///     let loss = try model.headLoss(picked, targets: targets)      // = crossEntropy(logits(picked), targets)
    public func headLoss(_ hidden: Tensor, targets: [Int32], chunkRows: Int? = nil) throws -> Tensor {
        guard hidden.rank == 2, hidden.shape[1] == config.hiddenSize, targets.count == hidden.shape[0], !targets.isEmpty else {
            throw TrainingDataError(reason: "headLoss: hidden \(hidden.shape) for \(targets.count) targets (want (N, \(config.hiddenSize)), N ≥ 1)")
        }
        let n = hidden.shape[0], c = hidden.shape[1], chunk = max(1, chunkRows ?? headChunkRows)
        let chunks = stride(from: 0, to: n, by: chunk).map { $0..<min(n, $0 + chunk) }
        if chunks.count == 1 { return try crossEntropy(logits: logits(hidden), targets: targets) }
        guard isRecording([hidden]) else {
            let total = try withNoGrad {
                try chunks.reduce(0.0) { sum, rows in
                    let l = try crossEntropy(logits: logits(slice(hidden, axis: 0, rows)), targets: Array(targets[rows]))
                    return sum + Double(l.item) * Double(rows.count)
                }
            }
            return Tensor.scalar(Float(total / Double(n)))
        }
        if headIsFrozen {
            let dh = Tensor.zeros([n, c])
            var total = 0.0
            for rows in chunks {
                let leaf = try withNoGrad { try slice(hidden, axis: 0, rows) }
                leaf.requiresGrad = true
                let l = try crossEntropy(logits: logits(leaf), targets: Array(targets[rows]))
                try l.backward()
                total += Double(l.item) * Double(rows.count)
                guard let g = leaf.grad else { continue }   // the loss does not depend on these rows
                let share = Float(rows.count) / Float(n), out = dh.data + rows.lowerBound * c
                for i in 0..<(rows.count * c) { out[i] = g.data[i] * share }
            }
            return Tensor.scalar(Float(total / Double(n))).recorded("headLoss", inputs: [hidden]) { g in [dh * g.item] }
        }
        var loss: Tensor?
        for rows in chunks {
            let part = try slice(hidden, axis: 0, rows), share = Float(rows.count) / Float(n)
            let l = try checkpoint([part]) { [self] xs in
                try crossEntropy(logits: logits(xs[0]), targets: Array(targets[rows])) * share
            }
            loss = try loss.map { try $0 + l } ?? l
        }
        return loss!
    }
}
