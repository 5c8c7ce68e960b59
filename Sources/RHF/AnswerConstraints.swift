// The RHF answers as byte automata for constrained decoding: a relations answer spells catalogue names,
// one per line; a heads or facts answer spells lines whose variable part is a span of the passage on word
// boundaries, around fixed text (the quotes, the fixed head and relation). Nothing twice, unless repeats
// are allowed so that decoding's repeated-line rule can end the answer at the first repeat.
// Not the decoding loop (LanguageModels) and not parsing (DocRE's OutputParser reads what these allow).
import DocRE
import LanguageModels

/// A set of at most 128 small indices (the relation names used so far), cheap to copy.
struct SmallIndexSet: Hashable {
    var low: UInt64 = 0, high: UInt64 = 0
    func contains(_ i: Int) -> Bool { i < 64 ? low & (1 << UInt64(i)) != 0 : high & (1 << UInt64(i - 64)) != 0 }
    mutating func insert(_ i: Int) { if i < 64 { low |= 1 << UInt64(i) } else { high |= 1 << UInt64(i - 64) } }
    /// Whether some index of `other` is not in self.
    func lacksSome(of other: SmallIndexSet) -> Bool { other.low & ~low != 0 || other.high & ~high != 0 }
}

/// Lines that each spell one of `names` (then a line break, or the end), no name twice:
///
///     country⏎located in the administrative territorial entity      (then end-of-answer)
///
/// The answer may end at a line start or right after a complete name.
public struct NameListAutomaton: ByteAutomaton {
    public struct State: Hashable { var node: Int32; var used: SmallIndexSet }
    /// Trie of the names' bytes: children per node, the name ending at a node (−1: none), and the set of
    /// names below each node (so no path is entered whose every name is used already).
    let children: [[UInt8: Int32]]
    let ending: [Int]
    let below: [SmallIndexSet]
    public let names: [String]
    /// Whether a name may come twice (then decoding's repeated-line rule decides what a repeat does).
    public let allowsRepeats: Bool

    public init(names: [String], allowsRepeats: Bool = false) throws {
        self.allowsRepeats = allowsRepeats
        guard names.count <= 128 else { throw AutoREError("constrained relations: at most 128 names, got \(names.count)") }
        var ch: [[UInt8: Int32]] = [[:]], end = [-1], bl = [SmallIndexSet()]
        for (i, name) in names.enumerated() {
            let bytes = Array(name.utf8)
            guard !bytes.isEmpty, !bytes.contains(0x0A) else { throw AutoREError("constrained relations: name \(i) is empty or holds a line break") }
            var node = 0
            bl[0].insert(i)
            for b in bytes {
                if let next = ch[node][b] { node = Int(next) } else {
                    ch.append([:]); end.append(-1); bl.append(SmallIndexSet())
                    ch[node][b] = Int32(ch.count - 1); node = ch.count - 1
                }
                bl[node].insert(i)
            }
            end[node] = i
        }
        children = ch; ending = end; below = bl; self.names = names
    }

    public var start: State { State(node: 0, used: SmallIndexSet()) }

    public func step(_ s: State, _ byte: UInt8) -> State? {
        let n = Int(s.node)
        if byte == 0x0A {
            let e = ending[n]
            guard e >= 0, allowsRepeats || !s.used.contains(e) else { return nil }
            var used = s.used; used.insert(e)
            return State(node: 0, used: used)
        }
        guard let next = children[n][byte], allowsRepeats || s.used.lacksSome(of: below[Int(next)]) else { return nil }
        return State(node: next, used: s.used)
    }

    public func accepts(_ s: State) -> Bool {
        s.node == 0 || (ending[Int(s.node)] >= 0 && (allowsRepeats || !s.used.contains(ending[Int(s.node)])))
    }
}

/// Lines `opening + span + closing`, separated by line breaks, where span is a non-empty run of the
/// passage's text that starts and ends on word boundaries (passage words are separated by single
/// spaces), no span twice:
///
///     "Gustave Eiffel"⏎"Dijon"                                    (heads: opening ", closing ")
///     ["Paris", "country", "France"]⏎["Paris", "country", "French Republic"]   (facts of a fixed head)
///
/// The span cannot contain the closing's first byte (a quote ends it). The answer may end after a
/// complete line, or before the first.
public struct PassageSpanLinesAutomaton: ByteAutomaton {
    public enum Phase: Hashable {
        case opening(Int)
        /// `starts`: passage offsets where the span written so far (of `length` bytes) occurs.
        case span(starts: [Int32], length: Int)
        case closing(Int)
        case lineEnd
    }
    public struct State { var phase: Phase; var used: Set<[UInt8]> }

    let passage: [UInt8]
    let wordStarts: [Int32]
    let opening: [UInt8], closing: [UInt8]
    /// Whether a span may come twice (then decoding's repeated-line rule decides what a repeat does).
    public let allowsRepeats: Bool

    public init(passage: String, opening: String, closing: String, allowsRepeats: Bool = false) throws {
        self.allowsRepeats = allowsRepeats
        self.passage = Array(passage.utf8)
        self.opening = Array(opening.utf8); self.closing = Array(closing.utf8)
        guard let c = self.closing.first, c != 0x20, c != 0x0A else {
            throw AutoREError("constrained spans: the closing text must start with a byte other than space or line break")
        }
        var starts: [Int32] = []
        for (i, b) in self.passage.enumerated() where b != 0x20 && (i == 0 || self.passage[i - 1] == 0x20) { starts.append(Int32(i)) }
        wordStarts = starts
    }

    public var start: State { State(phase: opening.isEmpty ? .span(starts: wordStarts, length: 0) : .opening(0), used: []) }

    func isWordEnd(_ end: Int) -> Bool { end == passage.count || passage[end] == 0x20 }

    public func step(_ s: State, _ byte: UInt8) -> State? {
        switch s.phase {
        case .opening(let k):
            guard opening[k] == byte else { return nil }
            return State(phase: k + 1 == opening.count ? .span(starts: wordStarts, length: 0) : .opening(k + 1), used: s.used)
        case let .span(starts, length):
            if byte == closing[0] {
                // the span ends here: it must be non-empty, end on a word boundary and be new
                guard length > 0, let p = starts.first(where: { isWordEnd(Int($0) + length) }) else { return nil }
                let text = Array(passage[Int(p)..<(Int(p) + length)])
                if allowsRepeats { return State(phase: closing.count == 1 ? .lineEnd : .closing(1), used: s.used) }
                guard !s.used.contains(text) else { return nil }
                var used = s.used; used.insert(text)
                return State(phase: closing.count == 1 ? .lineEnd : .closing(1), used: used)
            }
            let next = starts.filter { Int($0) + length < passage.count && passage[Int($0) + length] == byte }
            guard !next.isEmpty else { return nil }
            return State(phase: .span(starts: next, length: length + 1), used: s.used)
        case .closing(let k):
            guard closing[k] == byte else { return nil }
            return State(phase: k + 1 == closing.count ? .lineEnd : .closing(k + 1), used: s.used)
        case .lineEnd:
            guard byte == 0x0A else { return nil }
            return State(phase: opening.isEmpty ? .span(starts: wordStarts, length: 0) : .opening(0), used: s.used)
        }
    }

    public func accepts(_ s: State) -> Bool {
        switch s.phase {
        case .lineEnd: return true
        case .opening(0): return true
        case .span(_, 0): return opening.isEmpty
        default: return false
        }
    }
}

extension PassageSpanLinesAutomaton {
    /// A heads answer: one subject per line in double quotes (ParadigmBuilder's gold heads answer).
    public static func heads(passage: String, allowsRepeats: Bool = false) throws -> PassageSpanLinesAutomaton {
        try PassageSpanLinesAutomaton(passage: passage, opening: "\"", closing: "\"", allowsRepeats: allowsRepeats)
    }
    /// A facts answer for a fixed relation and head: `["head", "relation", "tail"]` lines
    /// (TripletFormat), the tail a passage span.
    public static func facts(passage: String, relation: String, head: String, allowsRepeats: Bool = false) throws -> PassageSpanLinesAutomaton {
        let fixed = TripletFormat.render(Triple(head, relation, ""))   // ["head", "relation", ""]
        return try PassageSpanLinesAutomaton(passage: passage, opening: String(fixed.dropLast(2)), closing: "\"]", allowsRepeats: allowsRepeats)
    }
}
