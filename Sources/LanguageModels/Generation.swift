// Inference: prefill, a growing KV cache per sequence, token-by-token decoding of a batch of sequences
// that may share one already-computed prefix (many questions about one document). No tape anywhere.
// Not training: LlamaModel.forward is the differentiable path.
import Autograd
import Quantization
import Foundation
import Support

/// What to generate and when to stop.
///
///     let opts = GenerationOptions(maxNewTokens: 32, stopTokens: [2])
///     let out = try model.generate(prompt: ids, options: opts)
public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    public var sampling: SamplingOptions
    /// Generation of a sequence ends after it emits one of these (the stop token is kept in the output).
    public var stopTokens: Set<Int>
    /// Sequence i of a batch draws from `SplitMix64(seed: seed &+ i)`, so a batch samples exactly
    /// what the same prompts would sample one at a time with seeds seed, seed+1, …
    public var seed: UInt64
    /// Line-break token ids: when given, a sequence also ends after it completes a line it has already
    /// written (a model caught in a loop repeats one line until `maxNewTokens`; for list answers the
    /// repeat adds nothing).
    public var lineBreaks: Set<Int>
    /// Added to the stop tokens' logits before each choice: below 0 an answer ends only when the model is
    /// surer of it (longer lists), above 0 sooner. 0 leaves the model's distribution as it is.
    public var stopBias: Float

    public init(maxNewTokens: Int = 64, sampling: SamplingOptions = .greedy, stopTokens: Set<Int> = [], seed: UInt64 = 0,
                lineBreaks: Set<Int> = [], stopBias: Float = 0) {
        self.maxNewTokens = maxNewTokens; self.sampling = sampling; self.stopTokens = stopTokens; self.seed = seed
        self.lineBreaks = lineBreaks; self.stopBias = stopBias
    }
}

/// Keys and values of B sequences, each after one of a few already-computed prefixes: per layer a
/// (B, rows, Hkv, D) buffer holding each sequence's own positions (its prompt, then what it generated).
/// A global layer keeps all `capacity` of them; a local layer whose window is smaller keeps the last
/// `window` in a ring (own position j in row j mod window): no later query sees further back. A prefix
/// (1, P, Hkv, D) is shared by all its sequences and never copied.
final class SequenceCache {
    let prefixes: [[LayerKV]?]
    /// Which prefix sequence b follows, and that prefix's length (positions, dropped rows included).
    let prefixOf: [Int]
    let prefixLengths: [Int]
    let batch: Int, capacity: Int, rowWidth: Int
    /// Rows per sequence of each layer's buffer: `capacity`, or a local layer's window when that is smaller.
    let rows: [Int]
    var keys: [Tensor], values: [Tensor]
    /// Own positions of each sequence so far.
    var lengths: [Int]

    /// `windows[l]`: layer l's attention window (nil or absent: the layer keeps every position).
    init(prefixes: [[LayerKV]?], prefixOf: [Int], layers: Int, capacity: Int, kvHeads: Int, headDim: Int, windows: [Int?] = []) {
        self.prefixes = prefixes
        self.prefixOf = prefixOf
        prefixLengths = prefixOf.map { prefixes[$0]?.first?.length ?? 0 }
        batch = prefixOf.count; self.capacity = capacity; rowWidth = kvHeads * headDim
        let rows = (0..<layers).map { l in min(capacity, (l < windows.count ? windows[l] : nil) ?? capacity) }
        self.rows = rows
        // Not zeroed: attention reads a sequence's rows only once they are written (`cachedAttention` visits
        // own rows below `lengths[s] + 1`), and most of `capacity` is never reached by short answers, so its
        // pages are never touched (zeroing them was a twentieth of a Gemma 3 extraction, in page faults).
        keys = rows.map { Tensor.uninitialized([prefixOf.count, $0, kvHeads, headDim]) }
        values = rows.map { Tensor.uninitialized([prefixOf.count, $0, kvHeads, headDim]) }
        lengths = Array(repeating: 0, count: prefixOf.count)
    }

    /// Copies rows `0..<count` of sequence `src` of `kv` (Bsrc, T, Hkv, D) to own positions `at..<at+count`
    /// of sequence `dst` (rows a ring would overwrite within the same copy are skipped).
    func store(layer: Int, _ kv: LayerKV, source src: Int, rows count: Int, into dst: Int, at: Int) {
        let t = kv.k.shape[1], w = rowWidth, r = rows[layer]
        let dk = keys[layer].data + dst * r * w, dv = values[layer].data + dst * r * w
        let sk = kv.k.data + src * t * w, sv = kv.v.data + src * t * w
        for j in max(0, count - r)..<count {
            let slot = (at + j) % r
            (dk + slot * w).update(from: sk + j * w, count: w)
            (dv + slot * w).update(from: sv + j * w, count: w)
        }
    }
}

/// Prompts that continue one shared prefix (a document and the questions asked about it).
///
///     let group = PromptGroup(prefix: documentIds, prompts: questionIds)
/// What a batched generation did, counted as it decodes: model steps (one new token for every active
/// sequence), tokens written, and tokens the constraint left no choice about (one allowed token).
/// Tokens / steps is the mean batch a step ran with; a forced token costs a step like any other.
public final class GenerationTally: @unchecked Sendable {
    public var steps = 0
    public var tokens = 0
    public var forced = 0
    public init() {}
}

public struct PromptGroup: Sendable {
    public var prefix: [Int]
    public var prompts: [[Int]]
    public init(prefix: [Int], prompts: [[Int]]) { self.prefix = prefix; self.prompts = prompts }
}

extension LlamaModel {
    /// Greedy or sampled continuation of one prompt (ids of the new tokens, stop token included).
    public func generate(prompt: [Int], options: GenerationOptions) throws -> [Int] {
        try generate(prompts: [prompt], options: options)[0]
    }

    /// Continuations of several prompts, each after `sharedPrefix` (computed once and shared by all:
    /// its keys/values are never copied per sequence). Prompts may differ in length.
    ///
    ///     let answers = try model.generate(prompts: questionIds, sharedPrefix: documentIds, options: opts)
    public func generate(prompts: [[Int]], sharedPrefix: [Int] = [], options: GenerationOptions) throws -> [[Int]] {
        try generate(groups: [PromptGroup(prefix: sharedPrefix, prompts: prompts)], options: options)[0]
    }

    /// Continuations of the prompts of several groups, decoded together as one batch: each group's prefix
    /// is computed once and shared by its prompts; every prompt's result is what generating it alone
    /// after its prefix would give (sequence k of the flattened batch samples with seed `seed + k`).
    ///
    ///     let out = try model.generate(groups: documents.map { PromptGroup(prefix: $0.ids, prompts: qs) }, options: opts)
    ///     // out[g][i]: the answer to prompt i of group g
    ///
    /// `constraints`, when given, holds one rule per prompt (in flattened order): each step samples only
    /// among the tokens its rule allows (greedy: the most likely allowed token), and a sequence whose rule
    /// allows nothing ends there.
    ///
    /// `prefixStates[g]`, when given, is group g's prefix already run through the model (`forward(...).present`
    /// of exactly `groups[g].prefix`, under the adapter active now): it is used instead of computing it again.
    ///
    /// `tally`, when given, adds this generation's steps, tokens and forced tokens to its counts.
    public func generate(groups: [PromptGroup], options: GenerationOptions,
                         constraints: [any TokenConstraint]? = nil, prefixStates: [Int: [LayerKV]] = [:],
                         tally: GenerationTally? = nil) throws -> [[[Int]]] {
        var constraints = constraints
        if let c = constraints, c.count != groups.reduce(0, { $0 + $1.prompts.count }) {
            throw TensorError("generate: \(c.count) constraints for \(groups.reduce(0, { $0 + $1.prompts.count })) prompts")
        }
        return try withNoGrad {
            let prompts = groups.flatMap(\.prompts)
            guard !prompts.isEmpty else { return groups.map { _ in [] } }
            if let i = prompts.firstIndex(where: \.isEmpty) {
                throw TensorError("generate: prompt \(i) is empty (a continuation needs at least one token after the shared prefix)")
            }
            let maxNew = max(0, options.maxNewTokens)
            let tMax = prompts.map(\.count).max()!
            for (g, group) in groups.enumerated() {
                if group.prefix.count + (group.prompts.map(\.count).max() ?? 0) + maxNew > config.maxPositions {
                    throw TensorError("generate: \(group.prefix.count) + \(group.prompts.map(\.count).max() ?? 0) + \(maxNew) positions exceed the model's \(config.maxPositions)")
                }
                if let state = prefixStates[g], state.first?.length != group.prefix.count {
                    throw TensorError("generate: the state given for group \(g)'s prefix has \(state.first?.length ?? 0) positions, the prefix \(group.prefix.count)")
                }
            }
            let b = prompts.count
            let (cache, lastHidden) = try startSequences(groups, capacity: tMax + maxNew, prefixStates: prefixStates)
            var hidden = lastHidden

            var rngs = (0..<b).map { SplitMix64(seed: options.seed &+ UInt64($0)) }
            var outputs = Array(repeating: [Int](), count: b)
            var lines = Array(repeating: Set<[Int]>(), count: b), lineStart = Array(repeating: 0, count: b)
            var active = Array(0..<b)
            let v = config.vocabSize
            let biased = options.stopBias == 0 ? [] : options.stopTokens.filter { $0 >= 0 && $0 < v }
            // Constrained greedy decoding needs the head only at each row's allowed tokens (HeadPlan).
            let sparse = headAtAllowedTokensOnly && constraints != nil && options.sampling.isGreedy && lmHead != nil
            var columnOf = sparse ? [Int32](repeating: -1, count: v) : []
            for _ in 0..<maxNew {
                tally?.steps += 1
                // Each active sequence's allowed tokens (nil: any), asked once per step.
                var allowedSets = [[Int]?](repeating: nil, count: active.count)
                if constraints != nil {
                    StepProfile.measure(.constraints) { for (row, i) in active.enumerated() { allowedSets[row] = constraints![i].allowedTokens() } }
                }
                var next: [Int32] = []
                var stillActive: [Int] = []
                for part in HeadPlan(rows: active.count, allowed: allowedSets, vocabulary: v, sparse: sparse).parts {
                    let x = part.rows.count == active.count ? hidden : try hidden.rows(part.rows)
                    // The part's logits: (rows, V), or (rows, union.count) at the union's tokens only.
                    var union: [Int]? = nil
                    let logits: Tensor
                    if let u = part.union, let sub = StepProfile.measure(.vocabularyHead, { self.logits(x, only: u) }) {
                        logits = sub; union = u
                        for (k, t) in u.enumerated() { columnOf[t] = Int32(k) }
                    } else {
                        logits = try StepProfile.measure(.vocabularyHead) { try self.logits(x) }
                    }
                    let width = union?.count ?? v
                    if union == nil { for row in 0..<part.rows.count { for t in biased { logits.data[row * v + t] += options.stopBias } } }
                    StepProfile.measure(.sampling) {
                    for row in part.rows {
                        let i = active[row], k = row - part.rows.lowerBound
                        let token: Int
                        if let allowed = allowedSets[row] {
                            guard !allowed.isEmpty else { continue }   // the rule allows nothing more: the answer ends
                            if union != nil {
                                // greedy among the allowed tokens, as sample(among:) over the whole row picks it
                                var best = allowed[0], bestValue = -Float.infinity
                                if allowed.count > 1 {
                                    for id in allowed {
                                        var value = logits.data[k * width + Int(columnOf[id])]
                                        if biased.contains(id) { value += options.stopBias }
                                        if value > bestValue { bestValue = value; best = id }
                                    }
                                }
                                token = best
                            } else {
                                token = options.sampling.sample(UnsafeBufferPointer(start: logits.data + k * v, count: v), among: allowed, using: &rngs[i])
                            }
                        } else {
                            token = options.sampling.sample(UnsafeBufferPointer(start: logits.data + k * v, count: v), using: &rngs[i])
                        }
                        constraints?[i].advance(token)
                        outputs[i].append(token)
                        if let tally { tally.tokens += 1; if allowedSets[row]?.count == 1 { tally.forced += 1 } }
                        var repeated = false
                        if options.lineBreaks.contains(token) {
                            let line = Array(outputs[i][lineStart[i]..<(outputs[i].count - 1)])
                            repeated = !line.isEmpty && !lines[i].insert(line).inserted
                            lineStart[i] = outputs[i].count
                        }
                        if !options.stopTokens.contains(token) && !repeated && outputs[i].count < maxNew {
                            stillActive.append(i); next.append(Int32(token))
                        }
                    }
                    }
                    if let union { for t in union { columnOf[t] = -1 } }
                }
                active = stillActive
                if active.isEmpty { break }
                hidden = try decodeHidden(tokens: next, sequences: active, cache: cache)
            }
            var result: [[[Int]]] = [], k = 0
            for group in groups { result.append(Array(outputs[k..<(k + group.prompts.count)])); k += group.prompts.count }
            return result
        }
    }

    /// The cache of the prompts of `groups` (flattened in order), each after its group's prefix (run once as
    /// a decoding past, or taken from `prefixStates`), with room for `capacity` own positions per sequence,
    /// and the final hidden state (B, C) of each prompt's last token. No tape.
    func startSequences(_ groups: [PromptGroup], capacity: Int, prefixStates: [Int: [LayerKV]] = [:]) throws -> (SequenceCache, Tensor) {
        var prefixes: [[LayerKV]?] = [], prefixOf: [Int] = []
        for (g, group) in groups.enumerated() {
            prefixes.append(group.prefix.isEmpty || group.prompts.isEmpty ? nil : try prefixStates[g] ?? decodingPast(ids: group.prefix))
            prefixOf += Array(repeating: g, count: group.prompts.count)
        }
        let c = config.hiddenSize
        let cache = SequenceCache(prefixes: prefixes, prefixOf: prefixOf, layers: config.layerCount, capacity: capacity,
                                  kvHeads: config.kvHeadCount, headDim: config.headDim,
                                  windows: (0..<config.layerCount).map { config.window(layer: $0) })
        // Each group's prompts, right-padded to the group's longest: padding sits after every real token,
        // so causal attention keeps it out of the real rows, and its cache rows are overwritten later.
        let lastHidden = Tensor.zeros([prefixOf.count, c])
        var first = 0
        try withNoGrad {
            for (g, group) in groups.enumerated() where !group.prompts.isEmpty {
                let n = group.prompts.count, t = group.prompts.map(\.count).max()!
                var ids = [Int32](repeating: 0, count: n * t)
                for (i, prompt) in group.prompts.enumerated() { for (j, tok) in prompt.enumerated() { ids[i * t + j] = Int32(tok) } }
                let (hidden, present) = try forward(ids: ids, batch: n, length: t, past: prefixes[g])
                for (l, kv) in present.enumerated() {
                    for i in 0..<n { cache.store(layer: l, kv, source: i, rows: group.prompts[i].count, into: first + i, at: 0) }
                }
                for (i, prompt) in group.prompts.enumerated() {
                    (lastHidden.data + (first + i) * c).update(from: hidden.data + (i * t + prompt.count - 1) * c, count: c)
                }
                first += n
            }
        }
        cache.lengths = groups.flatMap { $0.prompts.map(\.count) }
        return (cache, lastHidden)
    }

    /// One new token for each of `sequences` (indices into the cache): appends its keys/values and returns
    /// the next-token logits (len(sequences), V), the head applied to these rows only.
    func decodeStep(tokens: [Int32], sequences: [Int], cache: SequenceCache) throws -> Tensor {
        let h = try decodeHidden(tokens: tokens, sequences: sequences, cache: cache)
        return try StepProfile.measure(.vocabularyHead) { try logits(h) }
    }

    /// `decodeStep` before the head: the final hidden states (len(sequences), C) after the last norm. Each
    /// layer's window, RoPE base, q/k norms and sandwich norms are those of `forward` (LlamaAttention.project,
    /// LlamaDecoderLayer.addAttention/addFeedForward).
    func decodeHidden(tokens: [Int32], sequences: [Int], cache: SequenceCache) throws -> Tensor {
        let n = tokens.count, c = config.hiddenSize, d = config.headDim
        let hq = config.headCount
        let positions = sequences.map { cache.prefixLengths[$0] + cache.lengths[$0] }
        var x = try embed(tokens, shape: [n, 1])
        for (l, layer) in body.layers.enumerated() {
            let attn = layer.selfAttn
            let (q, k, v) = try attn.project(layer.inputLayernorm(x), positions: positions)
            let kv = LayerKV(k: k, v: v)
            for (row, s) in sequences.enumerated() {
                cache.store(layer: l, kv, source: row, rows: 1, into: s, at: cache.lengths[s])
            }
            let o = StepProfile.measure(.attention) { cachedAttention(q: q, layer: l, sequences: sequences, cache: cache) }
            x = try layer.addAttention(x, attn.oProj(o.reshaped([n, 1, hq * d])))
            x = try layer.addFeedForward(x)
        }
        for s in sequences { cache.lengths[s] += 1 }
        return try body.norm(x).reshaped([n, c])
    }

    /// Attention of one new query per sequence over [shared prefix keys, the sequence's own keys
    /// (including the one just stored)], within layer `l`'s window.   q: (n, 1, Hq, D)  →  (n, 1, Hq, D)
    func cachedAttention(q: Tensor, layer l: Int, sequences: [Int], cache: SequenceCache) -> Tensor {
        let n = sequences.count, hq = config.headCount, hkv = config.kvHeadCount, d = config.headDim
        let group = hq / hkv, w = cache.rowWidth, ring = cache.rows[l]
        let scale = config.attentionScale ?? 1 / Float(d).squareRoot()
        let out = Tensor.zeros([n, 1, hq, d])
        let window = config.window(layer: l)
        let ok = cache.keys[l].data, ov = cache.values[l].data
        let qd = q.data, od = out.data
        let maxKeys = (cache.prefixLengths.max() ?? 0) + cache.capacity
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: maxKeys * max(1, Threads.count))
        defer { scratch.deallocate() }
        parallelTasks(n * hq) { task, worker in
            let row = task / hq, h = task % hq, s = sequences[row], kvh = h / group
            let p = cache.prefixLengths[s], prefix = cache.prefixes[cache.prefixOf[s]]?[l]
            let own = cache.lengths[s] + 1                       // own keys, the new one included
            let pos = p + own - 1                                // absolute position of the query
            let lo = window.map { max(0, pos - $0 + 1) } ?? 0    // first visible absolute position
            let qv = qd + (row * hq + h) * d
            let scores = scratch + worker * maxKeys
            // Visible keys in absolute order: prefix position j (its row j − dropped: a windowed prefix keeps
            // every position a query after it sees), then own position j (row j, or j mod ring).
            let prefixRows = prefix.map { min(p, max(lo, $0.dropped))..<p } ?? 0..<0, dropped = prefix?.dropped ?? 0
            let ownRows = max(0, lo - p)..<own
            let pk = prefix?.k.data, pv = prefix?.v.data
            let ownK = ok + s * ring * w, ownV = ov + s * ring * w
            var m = -Float.infinity, count = 0
            if let pk {
                for j in prefixRows {
                    let sc = dot(qv, pk + (j - dropped) * w + kvh * d, d) * scale
                    scores[count] = sc; count += 1
                    if sc > m { m = sc }
                }
            }
            for j in ownRows {
                let sc = dot(qv, ownK + (j % ring) * w + kvh * d, d) * scale
                scores[count] = sc; count += 1
                if sc > m { m = sc }
            }
            var sum: Float = 0
            for j in 0..<count { let e = Foundation.exp(scores[j] - m); scores[j] = e; sum += e }
            let inv = 1 / sum
            let o = od + (row * hq + h) * d
            var idx = 0
            if let pv {
                for j in prefixRows { axpy(scores[idx] * inv, pv + (j - dropped) * w + kvh * d, o, d); idx += 1 }
            }
            for j in ownRows { axpy(scores[idx] * inv, ownV + (j % ring) * w + kvh * d, o, d); idx += 1 }
        }
        return out
    }
}

@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>(repeating: 0)
    var i = 0
    while i + 16 <= n {
        acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
        i += 16
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += a·x over n values.
@inline(__always) func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    let av = SIMD16<Float>(repeating: a)
    while i + 16 <= n {
        let r = UnsafeMutableRawPointer(y + i)
        r.storeBytes(of: r.loadUnaligned(as: SIMD16<Float>.self) + av * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { y[i] += a * x[i]; i += 1 }
}

/// How one decoding step applies the vocabulary head. Without `sparse`, once over every row. With it (greedy
/// constrained decoding over a head in blocks), in parts of at most `fusedProductMaxRows` rows: a part whose
/// rows all have an allowed set, together fewer than half the vocabulary, reads the head at the union of
/// those sets only (`LlamaModel.logits(_:only:)`, the fused kernel); the other parts get every logit. When
/// no part can be read sparsely the head runs once over all rows, as without `sparse`.
///
/// Where a part is read sparsely, its logits equal the whole head's bit for bit if the step has at most 16
/// rows (the whole product then uses the same fused kernel); with more rows the whole head is decoded tiles
/// and sgemm, whose sums differ from the fused kernel's by rounding.
struct HeadPlan {
    struct Part { var rows: Range<Int>; var union: [Int]? }
    var parts: [Part]

    init(rows n: Int, allowed: [[Int]?], vocabulary v: Int, sparse: Bool) {
        var parts: [Part] = []
        if sparse {
            for r0 in stride(from: 0, to: n, by: fusedProductMaxRows) {
                let rows = r0..<min(n, r0 + fusedProductMaxRows)
                var union: [Int]? = nil
                if rows.allSatisfy({ allowed[$0] != nil }) {
                    var seen = Set<Int>()
                    for r in rows { seen.formUnion(allowed[r]!) }
                    if seen.count < v / 2 { union = seen.sorted() }
                }
                parts.append(Part(rows: rows, union: union))
            }
        }
        self.parts = parts.contains { $0.union != nil } ? parts : [Part(rows: 0..<n, union: nil)]
    }
}

extension Tensor {
    /// Rows `r` of a (N, C) tensor, copied: (r.count, C).
    func rows(_ r: Range<Int>) throws -> Tensor {
        guard shape.count == 2, r.lowerBound >= 0, r.upperBound <= shape[0] else {
            throw TensorError("rows: \(r) of a tensor of shape \(shape)")
        }
        let c = shape[1], out = Tensor.zeros([r.count, c])
        out.data.update(from: data + r.lowerBound * c, count: r.count * c)
        return out
    }
}
