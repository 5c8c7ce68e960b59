// Constrained decoding: which token ids may come next, given what an answer has spelled so far. An
// answer format is a byte automaton (a relation-name list, a list of passage spans); a trie over the
// vocabulary's token bytes finds, in one walk, every token that keeps the automaton alive. Not the
// answer formats themselves (the RHF layer writes those) and not sampling (Sampling.swift).

/// A per-sequence rule on the next token. `generate` masks every other token before sampling.
///
///     var c: any TokenConstraint = AutomatonConstraint(names, trie: trie, stopTokens: [2])
///     let ok = c.allowedTokens()      // sorted ids, or nil for "anything"
///     c.advance(ok![0])
public protocol TokenConstraint {
    /// The ids allowed next, sorted ascending; nil allows every token; empty means the answer cannot go on.
    mutating func allowedTokens() -> [Int]?
    /// Records the token that was chosen.
    mutating func advance(_ token: Int)
}

/// No rule: every token is allowed (a sequence of a constrained batch whose answer has no fixed form).
public struct AnyTokenAllowed: TokenConstraint {
    public init() {}
    public mutating func allowedTokens() -> [Int]? { nil }
    public mutating func advance(_ token: Int) {}
}

/// A deterministic automaton over the bytes of an answer's text. `nil` from `step` rejects the byte.
/// `accepts` says whether the answer may end in that state (end-of-answer tokens are allowed there).
public protocol ByteAutomaton {
    associatedtype State
    var start: State { get }
    func step(_ state: State, _ byte: UInt8) -> State?
    func accepts(_ state: State) -> Bool
}

/// The vocabulary's ordinary tokens as a trie of their text bytes: node 0 is the root; a token ends at
/// the node its last byte reaches. Tokens that write no text (special, control, empty) are absent.
///
///     let trie = VocabularyTrie(vocabularySize: tok.vocabularySize) { tok.textBytes(of: $0) }
public final class VocabularyTrie: @unchecked Sendable {
    /// Children of node n: `edges[firstEdge[n]..<firstEdge[n + 1]]`, sorted by byte.
    let firstEdge: [Int32]
    let edgeByte: [UInt8]
    let edgeTarget: [Int32]
    /// Tokens ending at node n: `tokenIds[firstToken[n]..<firstToken[n + 1]]`.
    let firstToken: [Int32]
    let tokenIds: [Int32]
    /// Each token's bytes (nil where absent), for `advance`.
    public let bytes: [[UInt8]?]

    public init(vocabularySize: Int, bytesOf: (Int) -> [UInt8]?) {
        var children: [[UInt8: Int32]] = [[:]]
        var ending: [[Int32]] = [[]]
        var all: [[UInt8]?] = []
        all.reserveCapacity(vocabularySize)
        for id in 0..<vocabularySize {
            guard let b = bytesOf(id), !b.isEmpty else { all.append(nil); continue }
            all.append(b)
            var node = 0
            for byte in b {
                if let next = children[node][byte] { node = Int(next); continue }
                children.append([:]); ending.append([])
                children[node][byte] = Int32(children.count - 1)
                node = children.count - 1
            }
            ending[node].append(Int32(id))
        }
        var fe: [Int32] = [0], eb: [UInt8] = [], et: [Int32] = [], ft: [Int32] = [0], ti: [Int32] = []
        for n in 0..<children.count {
            for (byte, target) in children[n].sorted(by: { $0.key < $1.key }) { eb.append(byte); et.append(target) }
            fe.append(Int32(eb.count))
            ti += ending[n]
            ft.append(Int32(ti.count))
        }
        firstEdge = fe; edgeByte = eb; edgeTarget = et; firstToken = ft; tokenIds = ti; bytes = all
    }

    public var nodeCount: Int { firstEdge.count - 1 }

    /// Every token whose whole text the automaton accepts from `state` (token ids in trie order).
    func tokens<A: ByteAutomaton>(from state: A.State, of automaton: A, into out: inout [Int]) {
        var stack: [(node: Int32, state: A.State)] = [(0, state)]
        while let (node, s) = stack.popLast() {
            let n = Int(node)
            if n != 0 { for k in Int(firstToken[n])..<Int(firstToken[n + 1]) { out.append(Int(tokenIds[k])) } }
            for e in Int(firstEdge[n])..<Int(firstEdge[n + 1]) {
                if let next = automaton.step(s, edgeByte[e]) { stack.append((edgeTarget[e], next)) }
            }
        }
    }
}

/// A sequence that must spell a word of `automaton`'s language, then end with one of `stopTokens`.
/// After a stop token nothing more is allowed.
///
///     var c = AutomatonConstraint(answerFormat, trie: trie, stopTokens: format.stopTokens)
public struct AutomatonConstraint<A: ByteAutomaton>: TokenConstraint {
    public let automaton: A
    public let trie: VocabularyTrie
    public let stopTokens: [Int]
    public private(set) var state: A.State?

    public init(_ automaton: A, trie: VocabularyTrie, stopTokens: Set<Int>) {
        self.automaton = automaton; self.trie = trie; self.stopTokens = stopTokens.sorted()
        state = automaton.start
    }

    public mutating func allowedTokens() -> [Int]? {
        guard let s = state else { return [] }
        var out: [Int] = []
        trie.tokens(from: s, of: automaton, into: &out)
        if automaton.accepts(s) { out += stopTokens }
        return out.sorted()
    }

    public mutating func advance(_ token: Int) {
        guard let s = state else { return }
        if stopTokens.contains(token) { state = nil; return }
        guard let b = token < trie.bytes.count ? trie.bytes[token] : nil else { state = nil; return }
        var cur: A.State? = s
        for byte in b { cur = cur.flatMap { automaton.step($0, byte) } }
        state = cur
    }
}
