// The BPE model stage: vocabulary, ranked merges, and the merge loop (a priority heap over adjacent
// pairs, lowest rank first, leftmost on ties). Not pre-tokenisation, not special tokens, not decoding.

import Collections

/// Vocabulary and merge table of a BPE tokenizer. Byte-level models rank merges by their order in the
/// merges list; SentencePiece models rank a pair by the score of the token it forms (higher first).
///
///     let bpe = BPEModel(tokens: tokens, merges: merges)
///     bpe.merge([bpe.id("h")!, bpe.id("i")!])    // [id("hi")] when "h i" is a merge
public struct BPEModel: Sendable {
    public let tokens: [String]
    public let tokenToId: [String: Int32]
    /// (left id << 32 | right id) → (rank, merged id); lower rank merges first.
    let pairs: [UInt64: (rank: Int32, merged: Int32)]

    public func id(_ token: String) -> Int32? { tokenToId[token] }

    /// Byte-level / HF BPE: merges "a b" (or [a, b]) in priority order.
    public init(tokens: [String], merges: [(String, String)]) {
        self.tokens = tokens
        var t2i: [String: Int32] = [:]
        t2i.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where t2i[t] == nil { t2i[t] = Int32(i) }
        tokenToId = t2i
        var p: [UInt64: (rank: Int32, merged: Int32)] = [:]
        p.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let l = t2i[a], let r = t2i[b], let m = t2i[a + b] else { continue }
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if p[key] == nil { p[key] = (Int32(rank), m) }
        }
        pairs = p
    }

    /// SentencePiece BPE (llama.cpp `llm_tokenizer_spm`): every token of ≥ 2 Unicode scalars that splits into two
    /// vocabulary tokens is a merge; pairs rank by the merged token's score, higher first. Tokens split at
    /// scalars, not grapheme clusters, because encoding starts from one symbol per scalar: "▁❤️" (▁, U+2764,
    /// U+FE0F) is the merge of "▁❤" and "\u{FE0F}" though it is two Characters.
    public init(tokens: [String], scores: [Float]) {
        self.tokens = tokens
        var t2i: [String: Int32] = [:]
        for (i, t) in tokens.enumerated() where t2i[t] == nil { t2i[t] = Int32(i) }
        tokenToId = t2i
        // dense rank of scores, best score = rank 0
        let distinct = Array(Set(scores)).sorted(by: >)
        let rankOf = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, Int32($0)) })
        var p: [UInt64: (rank: Int32, merged: Int32)] = [:]
        for (i, t) in tokens.enumerated() {
            let scalars = Array(t.unicodeScalars)
            guard scalars.count >= 2 else { continue }
            for cut in 1..<scalars.count {
                guard let l = t2i[String(String.UnicodeScalarView(scalars[..<cut]))],
                      let r = t2i[String(String.UnicodeScalarView(scalars[cut...]))] else { continue }
                let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
                guard let rank = rankOf[scores[i]] else { continue }   // a NaN score: never a merge (loaders refuse it)
                if let old = p[key], old.rank <= rank { continue }
                p[key] = (rank, Int32(i))
            }
        }
        pairs = p
    }

    struct Candidate: Comparable {
        var rank: Int32, pos: Int32, left: Int32, right: Int32
        static func < (a: Candidate, b: Candidate) -> Bool { (a.rank, a.pos) < (b.rank, b.pos) }
    }

    @inline(__always) func lookup(_ l: Int32, _ r: Int32) -> (rank: Int32, merged: Int32)? {
        guard l >= 0, r >= 0 else { return nil }
        return pairs[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))]
    }

    /// Applies merges to a word's initial symbols (ids; −1 for a symbol outside the vocabulary, which never merges).
    public func merge(_ symbols: [Int32]) -> [Int32] {
        let n = symbols.count
        if n < 2 { return symbols }
        var ids = symbols
        var next = [Int32](unsafeUninitializedCapacity: n) { b, c in for i in 0..<n { b[i] = Int32(i + 1) }; c = n }
        var prev = [Int32](unsafeUninitializedCapacity: n) { b, c in for i in 0..<n { b[i] = Int32(i - 1) }; c = n }
        var heap = Heap<Candidate>()
        for i in 0..<(n - 1) {
            if let m = lookup(ids[i], ids[i + 1]) { heap.insert(Candidate(rank: m.rank, pos: Int32(i), left: ids[i], right: ids[i + 1])) }
        }
        while let c = heap.popMin() {
            let i = Int(c.pos)
            let j = Int(next[i])
            // stale: the left symbol was merged away or changed, or its right neighbour changed
            guard ids[i] == c.left, j < n, ids[j] == c.right, let m = lookup(c.left, c.right), m.rank == c.rank else { continue }
            ids[i] = m.merged
            ids[j] = -2                                   // removed
            let k = Int(next[j])
            next[i] = Int32(k)
            if k < n { prev[k] = Int32(i) }
            let p = Int(prev[i])
            if p >= 0, let mp = lookup(ids[p], ids[i]) { heap.insert(Candidate(rank: mp.rank, pos: Int32(p), left: ids[p], right: ids[i])) }
            if k < n, let mk = lookup(ids[i], ids[k]) { heap.insert(Candidate(rank: mk.rank, pos: Int32(i), left: ids[i], right: ids[k])) }
        }
        var out: [Int32] = []
        var i = 0
        while i < n { out.append(ids[i]); i = Int(next[i]) }
        return out
    }
}
