// Likelihood of given continuations: log p(c | prompt) for many candidate answers after one prompt,
// the prompt computed once and shared. For ranking a closed set of answers (a relation catalogue)
// instead of generating one. No tape; not training (answer losses live in FineTuning).
import Autograd
import Foundation

extension LlamaModel {
    /// log p(c₀ … c_{n−1} | prompt) = Σⱼ log softmax(logits after prompt + c₀…c_{j−1})[cⱼ], in nats, for
    /// each continuation (an empty one scores 0). The prompt's keys/values are computed once; the
    /// continuations run as one batch (in chunks of `chunk`) that continues them; the head runs only at the
    /// rows that predict a continuation's token.
    ///
    ///     let lp = try model.logProbabilities(of: names.map { tok.encode($0 + "\n") }, after: promptIds)
    ///
    /// `past`, when given, holds keys/values of tokens before `prompt` (a document prefix already computed).
    /// `headRows`: rows of logits computed at once (default `headChunkRows`).
    public func logProbabilities(of continuations: [[Int]], after prompt: [Int], past before: [LayerKV]? = nil,
                                 chunk: Int = 32, headRows: Int? = nil) throws -> [Double] {
        guard !prompt.isEmpty else { throw TensorError("logProbabilities: the prompt is empty") }
        let longest = continuations.map(\.count).max() ?? 0, earlier = before?.first?.length ?? 0
        if earlier + prompt.count + longest > config.maxPositions {
            throw TensorError("logProbabilities: \(earlier + prompt.count) + \(longest) positions exceed the model's \(config.maxPositions)")
        }
        return try withNoGrad {
            let earlierPasts = before.map { [PastSegment($0)] } ?? []
            let (hidden, promptPast) = try forward(ids: prompt.map(Int32.init), batch: 1, length: prompt.count, pasts: earlierPasts)
            let pasts = earlierPasts + [PastSegment(promptPast)]
            let c = config.hiddenSize
            let last = Tensor.zeros([1, c])
            last.data.update(from: hidden.data + (prompt.count - 1) * c, count: c)
            let first = try logits(last)                          // (1, V): the first token of every continuation
            let firstLSE = logSumExp(first.data, first.count)
            var out = continuations.map { $0.first.map { Double(first.data[$0] - firstLSE) } ?? 0 }
            // Later tokens: continuation j's rows 0..<n−1 predict its tokens 1..<n.
            let rest = continuations.indices.filter { continuations[$0].count >= 2 }
            for start in stride(from: 0, to: rest.count, by: max(1, chunk)) {
                let batch = Array(rest[start..<min(rest.count, start + max(1, chunk))])
                let t = batch.map { continuations[$0].count - 1 }.max()!
                var ids = [Int32](repeating: 0, count: batch.count * t)   // right-padded: causal attention ignores the padding
                for (b, j) in batch.enumerated() { for (k, tok) in continuations[j].dropLast().enumerated() { ids[b * t + k] = Int32(tok) } }
                let (h, _) = try forward(ids: ids, batch: batch.count, length: t, pasts: pasts)
                // The head only at rows that predict a token (not at padding), `headChunkRows` at a time.
                var rows: [Int] = [], scored: [(continuation: Int, token: Int)] = []
                for (b, j) in batch.enumerated() {
                    let cont = continuations[j]
                    for k in 0..<(cont.count - 1) { rows.append(b * t + k); scored.append((j, cont[k + 1])) }
                }
                let flat = try h.reshaped([batch.count * t, c])
                let perHead = max(1, headRows ?? headChunkRows)
                for part in stride(from: 0, to: rows.count, by: perHead) {
                    let range = part..<min(rows.count, part + perHead)
                    let z = try logits(gather(flat, axis: 0, indices: Array(rows[range]))), v = z.shape[1]
                    for (r, i) in range.enumerated() {
                        let row = z.data + r * v
                        out[scored[i].continuation] += Double(row[scored[i].token] - logSumExp(row, v))
                    }
                }
            }
            return out
        }
    }
}

/// log Σ exp(xᵢ) over n values, shifted by their maximum and summed in Double.
func logSumExp(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    let row = UnsafeBufferPointer(start: x, count: n)
    let m = row.max() ?? 0
    var sum = 0.0
    for v in row { sum += Foundation.exp(Double(v - m)) }
    return Float(Foundation.log(sum)) + m
}
