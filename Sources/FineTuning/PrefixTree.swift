// The training loss of many questions about one document: the document (prefix) is run once, and every
// question + answer continues from its keys/values, which stay on the tape so that their gradients
// reach the adapter through the prefix too. Loss on answer tokens only; logits only at those rows.
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

extension LlamaModel {
    /// Mean next-token cross-entropy over the answer tokens of every continuation in `group`.
    ///
    ///     prefix (1, P) → keys/values K_P, V_P (recorded)
    ///     [prompt_i ++ answer_i] right-padded to (B, T), attending to K_P, V_P (broadcast over B)
    ///     loss = mean over answer positions of −log p(token | everything before it)
    ///
    /// Equal to running every `prefix ++ prompt_i ++ answer_i` on its own, at a fraction of the cost.
    public func answerLoss(_ group: PrefixGroup) throws -> Tensor {
        let b = group.continuations.count
        guard b > 0 else { throw TrainingDataError(reason: "answerLoss: a prefix group without continuations") }
        for (i, c) in group.continuations.enumerated() where c.prompt.isEmpty || c.answer.isEmpty {
            throw TrainingDataError(reason: "answerLoss: continuation \(i) has an empty \(c.prompt.isEmpty ? "prompt" : "answer")")
        }
        let past = group.prefix.isEmpty ? nil
            : try forward(ids: group.prefix.map(Int32.init), batch: 1, length: group.prefix.count).present
        let sequences = group.continuations.map { $0.prompt + $0.answer }
        let t = sequences.map(\.count).max()!
        var ids = [Int32](repeating: 0, count: b * t)
        var rows: [Int] = [], targets: [Int32] = []
        for (i, (s, c)) in zip(sequences, group.continuations).enumerated() {
            for (j, tok) in s.enumerated() { ids[i * t + j] = Int32(tok) }
            // Row j predicts token j + 1; answer tokens sit at j + 1 ≥ prompt length.
            for j in (c.prompt.count - 1)..<(s.count - 1) {
                rows.append(i * t + j)
                targets.append(Int32(s[j + 1]))
            }
        }
        let hidden = try forward(ids: ids, batch: b, length: t, past: past).hidden
        let picked = try gather(hidden.reshaped([b * t, config.hiddenSize]), axis: 0, indices: rows)
        return try crossEntropy(logits: logits(picked), targets: targets)
    }
}
