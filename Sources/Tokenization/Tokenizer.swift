// The tokenizer pipeline: special/added tokens split off first, then normaliser → pre-tokeniser → BPE model,
// and the decoder back to text. Loading from GGUF / tokenizer.json is in TokenizerLoading.swift.

import Foundation

/// How token strings map back to text.
public enum TokenizerFlavor: Sendable, Equatable {
    /// GPT-2 byte-level BPE (SmolLM, Qwen, Llama-3): tokens are byte-level strings (`Ġ` = space).
    case byteLevel
    /// SentencePiece BPE with byte fallback (Llama-2, Mistral): `▁` for spaces, `<0xNN>` byte tokens.
    case sentencePiece
}

/// A text normalisation step (tokenizer.json `normalizer`), applied to each non-special segment.
public enum NormalizerStep: Sendable, Equatable {
    case prepend(String)
    case replace(String, String)
    case nfc
    case lowercase

    func apply(_ s: String) -> String {
        switch self {
        case .prepend(let p): s.isEmpty ? s : p + s
        case .replace(let a, let b): s.replacingOccurrences(of: a, with: b)
        case .nfc: s.precomposedStringWithCanonicalMapping
        case .lowercase: s.lowercased()
        }
    }
}

/// A BPE tokenizer with special tokens and a chat template.
///
///     let tok = try Tokenizer(gguf: GGUFFile(path: model))
///     let ids = tok.encode("Hello world")             // [19556, 905]
///     tok.decode(ids) == "Hello world"
public final class Tokenizer: @unchecked Sendable {
    public let flavor: TokenizerFlavor
    public let model: BPEModel
    public let normalizer: [NormalizerStep]
    public let preTokenizer: any PreTokenizer
    /// Tokens matched as a whole before anything else (control and user-defined tokens, HF added tokens).
    public let specialTokens: [String: Int]
    /// Ids whose decoding `skipSpecialTokens` drops (control tokens / HF `special: true`).
    public let controlTokenIds: Set<Int>
    public let byteFallback: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var unknownTokenId: Int?
    public var addBOS: Bool
    public var addEOS: Bool
    /// Strip one leading space when decoding (SentencePiece's prefix space).
    public let stripLeadingSpaceOnDecode: Bool
    public var chatTemplate: ChatTemplate?

    public var vocabularySize: Int { model.tokens.count }

    // special-token matcher: first UTF-8 byte → candidates (bytes, id), longest first
    private let specialByFirstByte: [UInt8: [([UInt8], Int)]]
    private let byteTokenIds: [Int32]          // byte-level: id of each byte's character
    private let byteFallbackIds: [Int32]       // `<0xNN>` ids, −1 when absent
    private let specialIds: Set<Int>
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()

    public init(flavor: TokenizerFlavor, model: BPEModel, normalizer: [NormalizerStep] = [], preTokenizer: any PreTokenizer,
                specialTokens: [String: Int] = [:], controlTokenIds: Set<Int> = [], byteFallback: Bool = false,
                bosTokenId: Int? = nil, eosTokenId: Int? = nil, unknownTokenId: Int? = nil,
                addBOS: Bool = false, addEOS: Bool = false, stripLeadingSpaceOnDecode: Bool = false,
                chatTemplate: ChatTemplate? = nil) {
        self.flavor = flavor; self.model = model; self.normalizer = normalizer; self.preTokenizer = preTokenizer
        self.specialTokens = specialTokens; self.controlTokenIds = controlTokenIds; self.byteFallback = byteFallback
        self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId; self.unknownTokenId = unknownTokenId
        self.addBOS = addBOS; self.addEOS = addEOS; self.stripLeadingSpaceOnDecode = stripLeadingSpaceOnDecode
        self.chatTemplate = chatTemplate
        specialIds = Set(specialTokens.values)
        var m: [UInt8: [([UInt8], Int)]] = [:]
        for (s, id) in specialTokens where !s.isEmpty {
            let b = Array(s.utf8)
            m[b[0], default: []].append((b, id))
        }
        for k in m.keys { m[k]!.sort { $0.0.count > $1.0.count } }
        specialByFirstByte = m
        byteTokenIds = (0..<256).map { model.id(String(ByteLevel.byteToScalar[$0])) ?? -1 }
        byteFallbackIds = (0..<256).map { model.id(String(format: "<0x%02X>", $0)) ?? -1 }
    }

    public func id(_ token: String) -> Int? { model.id(token).map(Int.init) }
    public func token(_ id: Int) -> String? { id >= 0 && id < model.tokens.count ? model.tokens[id] : nil }

    /// Splits text into (text segment | special token id), special tokens matched leftmost-longest.
    public func splitSpecial(_ text: String) -> [(segment: Substring?, special: Int?)] {
        guard !specialByFirstByte.isEmpty else { return [(text[...], nil)] }
        var out: [(segment: Substring?, special: Int?)] = []
        let u = text.utf8
        var segStart = u.startIndex, i = u.startIndex
        outer: while i < u.endIndex {
            if let cands = specialByFirstByte[u[i]] {
                for (bytes, id) in cands {
                    var j = i, ok = true
                    for b in bytes { if j == u.endIndex || u[j] != b { ok = false; break }; j = u.index(after: j) }
                    if ok {
                        if segStart < i { out.append((text[segStart..<i], nil)) }
                        out.append((nil, id))
                        i = j; segStart = j
                        continue outer
                    }
                }
            }
            i = u.index(after: i)
        }
        if segStart < u.endIndex { out.append((text[segStart..<u.endIndex], nil)) }
        return out
    }

    /// Token ids of `text`. Special tokens in the text are recognised when `parseSpecial`;
    /// BOS/EOS are added when `addSpecialTokens` and the tokenizer asks for them.
    public func encode(_ text: String, addSpecialTokens: Bool = false, parseSpecial: Bool = true) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecialTokens && addBOS, let b = bosTokenId { out.append(b) }
        let parts = parseSpecial ? splitSpecial(text) : [(text[...], nil)]
        for (seg, special) in parts {
            if let special { out.append(special); continue }
            encodeSegment(String(seg!), into: &out)
        }
        if addSpecialTokens && addEOS, let e = eosTokenId { out.append(e) }
        return out
    }

    func encodeSegment(_ raw: String, into out: inout [Int]) {
        var s = raw
        for step in normalizer { s = step.apply(s) }
        let text = ScalarText(s[...])
        for piece in preTokenizer.pieces(text) {
            let word = text.string(piece)
            cacheLock.lock()
            let hit = cache[word]
            cacheLock.unlock()
            if let hit { for t in hit { out.append(Int(t)) }; continue }
            let ids = encodeWord(word, text.scalars[piece])
            if word.utf8.count < 256 {
                cacheLock.lock(); cache[word] = ids; cacheLock.unlock()
            }
            for t in ids { out.append(Int(t)) }
        }
    }

    func encodeWord(_ word: String, _ scalars: ArraySlice<Unicode.Scalar>) -> [Int32] {
        switch flavor {
        case .byteLevel:
            var symbols = word.utf8.map { byteTokenIds[Int($0)] }
            // A byte whose character the vocabulary lacks is skipped before merging, as transformers' BPE skips a
            // character it cannot spell (SmolLM2: 0x04, 0x06, 0x13, 0x14, 0x16 and 0x1D); its neighbours may merge.
            if symbols.contains(-1) { symbols.removeAll { $0 < 0 } }
            return model.merge(symbols)
        case .sentencePiece:
            let symbols = scalars.map { model.id(String($0)) ?? -1 }
            let merged = model.merge(symbols)
            guard merged.contains(-1) else { return merged }
            // byte fallback (or unknown) for characters outside the vocabulary, in order
            let unknown = scalars.filter { model.id(String($0)) == nil }
            var u = 0, out: [Int32] = []
            for t in merged {
                if t >= 0 { out.append(t); continue }
                let ch = unknown[u]; u += 1
                let bytes = Array(String(ch).utf8)
                if byteFallback, bytes.allSatisfy({ byteFallbackIds[Int($0)] >= 0 }) {
                    out.append(contentsOf: bytes.map { byteFallbackIds[Int($0)] })
                } else {
                    out.append(Int32(unknownTokenId ?? 0))
                }
            }
            return out
        }
    }

    /// Text of token ids. Special tokens are written out unless `skipSpecialTokens`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let t = token(id) else { continue }
            // a control token writes its own name unless skipped; every other token its text (one rule)
            if controlTokenIds.contains(id) {
                if !skipSpecialTokens { bytes.append(contentsOf: t.utf8) }
                continue
            }
            bytes.append(contentsOf: textBytes(of: id) ?? [])
        }
        if stripLeadingSpaceOnDecode, bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The UTF-8 bytes a token adds to an answer's text, as `decode(_, skipSpecialTokens: true)` writes it
    /// (a token may hold part of a character); nil for control tokens, which write none. Constrained
    /// decoding matches these against what an answer may still spell. A user-defined token is text: Gemma 3
    /// marks "\n", runs of spaces and other pieces so, and its answers' line breaks are that "\n" (107).
    /// (A leading space that `decode` strips at the very start of a text is kept here: the token adds it in
    /// the middle of one.)
    public func textBytes(of id: Int) -> [UInt8]? {
        guard let t = token(id), !controlTokenIds.contains(id) else { return nil }
        // as decode writes it: a SentencePiece user-defined token verbatim, every other one from its pieces
        if specialIds.contains(id) && flavor == .sentencePiece { return Array(t.utf8) }
        return textBytes(t)
    }

    private func textBytes(_ t: String) -> [UInt8] {
        switch flavor {
        case .byteLevel:
            return ByteLevel.decode(t) ?? Array(t.utf8)
        case .sentencePiece:
            if t.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">"), let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) { return [b] }
            return Array(t.replacingOccurrences(of: "▁", with: " ").utf8)
        }
    }

    /// Tokens (vocabulary strings) of ids, for display.
    public func tokens(_ ids: [Int]) -> [String] { ids.map { token($0) ?? "<?\($0)>" } }
}
