// Pre-tokenisers: split normalised text into words before BPE, as tokenizer.json's `pre_tokenizer`
// stage does. Hand-written scanners, no regex engine. Not normalisers and not the BPE model.

/// Character classes of the GPT-2 pattern: `\p{L}`, `\p{N}`, `\s`, and everything else.
@usableFromInline enum CharClass: UInt8 { case letter, number, space, other }

@usableFromInline let asciiClass: [CharClass] = (0..<128).map { b -> CharClass in
    let s = Unicode.Scalar(UInt8(b))
    if s.properties.isWhitespace { return .space }
    if (65...90).contains(b) || (97...122).contains(b) { return .letter }
    if (48...57).contains(b) { return .number }
    return .other
}

@inline(__always) @usableFromInline func charClass(_ s: Unicode.Scalar) -> CharClass {
    if s.value < 128 { return asciiClass[Int(s.value)] }
    let p = s.properties
    if p.isWhitespace { return .space }
    switch p.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
}

/// Text as unicode scalars with their classes; pre-tokenisers return ranges of scalar indices.
public struct ScalarText {
    public var scalars: [Unicode.Scalar]
    @usableFromInline var classes: [CharClass]
    public init(_ s: Substring) {
        scalars = Array(s.unicodeScalars)
        classes = scalars.map(charClass)
    }
    public func string(_ r: Range<Int>) -> String {
        var v = String.UnicodeScalarView(); v.append(contentsOf: scalars[r]); return String(v)
    }
}

/// A pre-tokenisation stage: refines each piece (a scalar range) into smaller pieces, in order.
public protocol PreTokenizer: Sendable {
    func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>])
}

extension PreTokenizer {
    /// Pieces of the whole text.
    public func pieces(_ text: ScalarText) -> [Range<Int>] {
        var out: [Range<Int>] = []
        split(text, 0..<text.scalars.count, into: &out)
        return out
    }
}

/// GPT-2's pattern, HF `ByteLevel(use_regex: true)`:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// scanned leftmost-first exactly as the regex alternation would match.
public struct GPT2PreTokenizer: PreTokenizer {
    public init() {}
    public func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        let v = text.scalars, c = text.classes, n = piece.upperBound
        var i = piece.lowerBound
        while i < n {
            // 'apostrophe contractions (lower case only, as in GPT-2)
            if v[i] == "'" && i + 1 < n {
                let a = v[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { out.append(i..<(i + 2)); i += 2; continue }
                if i + 2 < n {
                    let b = v[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        out.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // ` ?X+` for X in letters, numbers, others (the optional prefix is a literal space only)
            let k = (v[i] == " " && i + 1 < n && c[i + 1] != .space) ? i + 1 : i
            let cls = c[k]
            if cls != .space {
                var j = k + 1
                while j < n && c[j] == cls { j += 1 }
                out.append(i..<j); i = j; continue
            }
            // whitespace: `\s+(?!\S)` leaves the last space for the next word, else `\s+`
            var j = i + 1
            while j < n && c[j] == .space { j += 1 }
            if j < n && j - i >= 2 { j -= 1 }
            out.append(i..<j); i = j
        }
    }
}

/// The Llama-3 pattern (llama.cpp "llama3"/"llama-bpe"; with `maxDigits` 1 it is Qwen2's "qwen2"):
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
/// scanned leftmost-first as the regex alternation matches.
public struct Llama3PreTokenizer: PreTokenizer {
    public var maxDigits: Int
    public init(maxDigits: Int = 3) { self.maxDigits = maxDigits }

    @inline(__always) static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\n" || s == "\r" }
    @inline(__always) static func lower(_ s: Unicode.Scalar) -> Unicode.Scalar {
        s.value >= 65 && s.value <= 90 ? Unicode.Scalar(s.value + 32)! : s
    }

    public func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        let v = text.scalars, c = text.classes, n = piece.upperBound
        var i = piece.lowerBound
        while i < n {
            // case-insensitive contractions
            if v[i] == "'" && i + 1 < n {
                let a = Self.lower(v[i + 1])
                if a == "s" || a == "t" || a == "m" || a == "d" { out.append(i..<(i + 2)); i += 2; continue }
                if i + 2 < n {
                    let b = Self.lower(v[i + 2])
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        out.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            let c0 = c[i]
            // [^\r\n\p{L}\p{N}]?\p{L}+
            var start = -1
            if c0 == .letter { start = i }
            else if c0 != .number && !Self.isNewline(v[i]) && i + 1 < n && c[i + 1] == .letter { start = i + 1 }
            if start >= 0 {
                var j = start + 1
                while j < n && c[j] == .letter { j += 1 }
                out.append(i..<j); i = j; continue
            }
            // \p{N}{1,maxDigits}
            if c0 == .number {
                var j = i + 1
                while j < n && j - i < maxDigits && c[j] == .number { j += 1 }
                out.append(i..<j); i = j; continue
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            let k = (v[i] == " " && i + 1 < n && c[i + 1] == .other) ? i + 1 : i
            if c[k] == .other {
                var j = k + 1
                while j < n && c[j] == .other { j += 1 }
                while j < n && Self.isNewline(v[j]) { j += 1 }
                out.append(i..<j); i = j; continue
            }
            // whitespace: \s*[\r\n]+ (through the run's last newline), else \s+(?!\S), else \s+
            var j = i + 1
            while j < n && c[j] == .space { j += 1 }
            var lastNewline = -1
            for t in i..<j where Self.isNewline(v[t]) { lastNewline = t }
            if lastNewline >= 0 { j = lastNewline + 1 }
            else if j < n && j - i >= 2 { j -= 1 }
            out.append(i..<j); i = j
        }
    }
}

/// HF `Digits`: numbers (`\p{N}`, Rust `char::is_numeric`) isolated, one piece per digit when
/// `individualDigits`, else one piece per run.
public struct DigitsPreTokenizer: PreTokenizer {
    public var individualDigits: Bool
    public init(individualDigits: Bool) { self.individualDigits = individualDigits }
    public func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        let c = text.classes
        var i = piece.lowerBound
        while i < piece.upperBound {
            var j = i + 1
            if c[i] == .number {
                if !individualDigits { while j < piece.upperBound && c[j] == .number { j += 1 } }
            } else {
                while j < piece.upperBound && c[j] != .number { j += 1 }
            }
            out.append(i..<j); i = j
        }
    }
}

/// HF `Sequence`: each stage refines the pieces of the previous one.
public struct SequencePreTokenizer: PreTokenizer {
    public var stages: [any PreTokenizer]
    public init(_ stages: [any PreTokenizer]) { self.stages = stages }
    public func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        var current = [piece]
        for s in stages {
            var next: [Range<Int>] = []
            for p in current { s.split(text, p, into: &next) }
            current = next
        }
        out.append(contentsOf: current)
    }
}

/// No splitting: the whole text is one word (SentencePiece models, whose spaces are already `▁`).
public struct IdentityPreTokenizer: PreTokenizer {
    public init() {}
    public func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        if !piece.isEmpty { out.append(piece) }
    }
}

/// HF `Metaspace` / `WhitespaceSplit`-like split before each `▁` (after the normaliser turned spaces into `▁`):
/// "▁Hello▁world" → "▁Hello", "▁world".
public struct MetaspacePreTokenizer: PreTokenizer {
    public init() {}
    public func split(_ text: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        var start = piece.lowerBound
        for i in piece where i > start && text.scalars[i] == "▁" {
            out.append(start..<i); start = i
        }
        if start < piece.upperBound { out.append(start..<piece.upperBound) }
    }
}

public struct TokenizerConfigError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var reason: String
    public var description: String { "\(source): \(reason)" }
}

/// Builds pre-tokenisers from tokenizer.json's `pre_tokenizer` object, keyed on `type`.
public enum PreTokenizerFactory {
    public static func make(_ json: [String: Any]?, source: String) throws -> (any PreTokenizer, byteLevel: Bool) {
        guard let json else { return (IdentityPreTokenizer(), false) }
        let type = json["type"] as? String ?? "?"
        switch type {
        case "ByteLevel":
            return ((json["use_regex"] as? Bool ?? true) ? GPT2PreTokenizer() : IdentityPreTokenizer(), true)
        case "Digits":
            return (DigitsPreTokenizer(individualDigits: json["individual_digits"] as? Bool ?? false), false)
        case "Metaspace":
            return (MetaspacePreTokenizer(), false)
        case "Sequence":
            var stages: [any PreTokenizer] = [], byteLevel = false
            for s in json["pretokenizers"] as? [[String: Any]] ?? [] {
                let (p, b) = try make(s, source: source)
                stages.append(p); byteLevel = byteLevel || b
            }
            return (SequencePreTokenizer(stages), byteLevel)
        default:
            throw TokenizerConfigError(source: source, reason: "unsupported pre_tokenizer type '\(type)'")
        }
    }

    /// From GGUF `tokenizer.ggml.pre` (llama.cpp's pre-tokeniser names) for byte-level models.
    public static func make(ggufPre pre: String?, source: String) throws -> any PreTokenizer {
        switch pre ?? "default" {
        case "default", "gpt2", "gpt-2", "mpt", "olmo", "jais":
            return GPT2PreTokenizer()
        case "smollm", "starcoder", "refact", "codeshell":
            // llama.cpp: regex "\p{N}" then the GPT-2 pattern (HF: Digits(individual) + ByteLevel)
            return SequencePreTokenizer([DigitsPreTokenizer(individualDigits: true), GPT2PreTokenizer()])
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral":
            return Llama3PreTokenizer(maxDigits: 3)
        case "qwen2", "deepseek-r1-qwen":
            return Llama3PreTokenizer(maxDigits: 1)
        case let other:
            throw TokenizerConfigError(source: source, reason: "unsupported tokenizer.ggml.pre '\(other)'")
        }
    }
}
