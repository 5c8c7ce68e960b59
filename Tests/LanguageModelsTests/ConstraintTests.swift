// Constrained decoding and continuation scoring against naive references: the vocabulary trie's walk
// against filtering every token through the automaton; constrained greedy decoding against the argmax
// among allowed tokens of a full forward pass; log p(continuation) against teacher-forced log softmax.
import Autograd
import Foundation
import Testing
@testable import LanguageModels

/// Strings that are lines of `words` (each then ⏎ or the end), in any order, repeats allowed.
struct WordLines: ByteAutomaton {
    let words: [[UInt8]]
    /// (line written so far) — a line start is the empty array.
    var start: [UInt8] { [] }
    func step(_ s: [UInt8], _ b: UInt8) -> [UInt8]? {
        if b == 0x0A { return words.contains(s) ? [] : nil }
        let next = s + [b]
        return words.contains { $0.starts(with: next) } ? next : nil
    }
    func accepts(_ s: [UInt8]) -> Bool { s.isEmpty || words.contains(s) }
}

@Suite struct ConstraintTests {
    static let vocabulary = ["a", "b", "ab", "abc", "c\n", "\n", "ca", "bca", "x", "", "a\nb", "abc\nab", "c"]

    @Test func trieWalkEqualsFilteringEveryToken() {
        let bytes: (Int) -> [UInt8]? = { $0 == 9 ? nil : Array(Self.vocabulary[$0].utf8) }
        let trie = VocabularyTrie(vocabularySize: Self.vocabulary.count, bytesOf: bytes)
        let automaton = WordLines(words: ["abc", "ab", "bca"].map { Array($0.utf8) })
        for prefix in ["", "a", "ab", "abc", "abc\n", "b", "bc", "ab\nbca"] {
            var state: [UInt8]? = automaton.start
            for b in prefix.utf8 { state = state.flatMap { automaton.step($0, b) } }
            guard let s = state else { Issue.record("\(prefix) rejected"); continue }
            // naive: a token is allowed when every one of its bytes steps the automaton
            var expected: [Int] = []
            for id in Self.vocabulary.indices {
                guard let b = bytes(id), !b.isEmpty else { continue }
                var cur: [UInt8]? = s
                for x in b { cur = cur.flatMap { automaton.step($0, x) } }
                if cur != nil { expected.append(id) }
            }
            if automaton.accepts(s) { expected.append(99) }
            var c = AutomatonConstraint(automaton, trie: trie, stopTokens: [99])
            // reach the state token by token through the bytes of the prefix
            for ch in prefix.utf8 { c.advance(Self.vocabulary.firstIndex(of: String(UnicodeScalar(ch)))!) }
            #expect(c.allowedTokens() == expected.sorted(), "after \(prefix.debugDescription)")
        }
        // not vacuous: after "ab" both a token that completes a line and one that continues are allowed
        var c = AutomatonConstraint(automaton, trie: trie, stopTokens: [99])
        c.advance(2)
        let allowed = c.allowedTokens()!
        #expect(allowed.contains(4) && allowed.contains(5) && allowed.contains(99) && !allowed.contains(0))
        c.advance(99)
        #expect(c.allowedTokens() == [])
    }

    @Test func constrainedGreedyIsTheArgmaxAmongAllowedTokens() throws {
        // Rule: from the second new token on, only even ids (a toy automaton over a byte alphabet of ids).
        let model = try LlamaModel.load(path: Fixtures.tinyCheckpoint())
        let v = model.config.vocabSize
        struct EvenAfterFirst: TokenConstraint {
            var n = 0
            mutating func allowedTokens() -> [Int]? { n == 0 ? nil : Array(stride(from: 0, to: 40, by: 2)) }
            mutating func advance(_ token: Int) { n += 1 }
        }
        let prompts = [[3, 4], [9], [20, 21, 22]]
        let got = try model.generate(groups: [PromptGroup(prefix: [7, 8], prompts: prompts)],
                                     options: GenerationOptions(maxNewTokens: 8),
                                     constraints: prompts.map { _ in EvenAfterFirst() })[0]
        for (p, out) in zip(prompts, got) {
            var ids = [7, 8] + p
            var expected: [Int] = []
            for step in 0..<8 {
                let logits = try withNoGrad { try model.logits(model.forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).hidden).scalars }
                let row = Array(logits[((ids.count - 1) * v)...].prefix(v))
                let allowed = step == 0 ? Array(0..<v) : Array(stride(from: 0, to: 40, by: 2))
                let next = allowed.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!
                expected.append(next); ids.append(next)
            }
            #expect(out == expected)
            #expect(out.dropFirst().allSatisfy { $0 % 2 == 0 && $0 < 40 })
        }
        // not vacuous: unconstrained greedy differs
        let free = try model.generate(groups: [PromptGroup(prefix: [7, 8], prompts: prompts)], options: GenerationOptions(maxNewTokens: 8))[0]
        #expect(free != got)
    }

    /// The tally counts a step per model call and a token per sequence per step; a token is forced where
    /// the rule allowed it alone. Three sequences end after 3, 5 and 5 tokens (rules), forced from the
    /// third token on: 6 steps (the last finds only rules that allow nothing), 13 tokens, 1 + 3 + 3 forced.
    @Test func aTallyCountsStepsTokensAndForcedTokens() throws {
        let model = try LlamaModel.load(path: Fixtures.tinyCheckpoint())
        struct Scripted: TokenConstraint {
            var n = 0, length: Int
            mutating func allowedTokens() -> [Int]? { n >= length ? [] : n >= 2 ? [7] : nil }
            mutating func advance(_ token: Int) { n += 1 }
        }
        let tally = GenerationTally()
        let out = try model.generate(groups: [PromptGroup(prefix: [1, 2], prompts: [[3], [4, 5], [6]])],
                                     options: GenerationOptions(maxNewTokens: 10),
                                     constraints: [Scripted(length: 3), Scripted(length: 5), Scripted(length: 5)], tally: tally)[0]
        #expect(out.map(\.count) == [3, 5, 5] && out.allSatisfy { Array($0.dropFirst(2)).allSatisfy { $0 == 7 } })
        // the sixth step finds every rule allowing nothing: it is a step, and writes no token
        #expect(tally.steps == 6 && tally.tokens == 13 && tally.forced == 7, "\(tally.steps) \(tally.tokens) \(tally.forced)")
    }

    @Test func aRuleThatAllowsNothingEndsTheSequence() throws {
        let model = try LlamaModel.load(path: Fixtures.tinyCheckpoint())
        struct ThreeTokens: TokenConstraint {
            var n = 0
            mutating func allowedTokens() -> [Int]? { n < 3 ? nil : [] }
            mutating func advance(_ token: Int) { n += 1 }
        }
        let out = try model.generate(groups: [PromptGroup(prefix: [], prompts: [[3, 4]])], options: GenerationOptions(maxNewTokens: 10),
                                     constraints: [ThreeTokens()])[0][0]
        let free = try model.generate(prompt: [3, 4], options: GenerationOptions(maxNewTokens: 10))
        #expect(out == Array(free.prefix(3)))
    }

    /// Also with the head applied to 3 rows at a time (continuations' rows split across head chunks).
    @Test(arguments: [nil, 3] as [Int?])
    func continuationLogProbabilitiesEqualTeacherForcing(headRows: Int?) throws {
        let model = try LlamaModel.load(path: Fixtures.tinyCheckpoint())
        let v = model.config.vocabSize
        let prompt = [5, 6, 7, 8]
        let continuations = [[9], [10, 11, 12], [], [3, 3], [40, 41, 42, 43, 44]]
        let got = try model.logProbabilities(of: continuations, after: prompt, chunk: 2, headRows: headRows)
        for (c, lp) in zip(continuations, got) {
            let ids = prompt + c
            let logits = try withNoGrad { try model.logits(model.forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).hidden).scalars }
            var expected = 0.0
            for (k, tok) in c.enumerated() {
                let row = logits[((prompt.count - 1 + k) * v)..<((prompt.count + k) * v)].map(Double.init)
                let m = row.max()!
                expected += row[tok] - (m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) }))
            }
            #expect(abs(lp - expected) <= 1e-4 + 1e-5 * abs(expected), "\(c): \(lp) vs \(expected)")
        }
        #expect(got[2] == 0 && got[4] < got[0])
    }
}

@Suite struct StopBiasTests {
    @Test func stopBiasMovesTheEndOfAnAnswer() throws {
        let model = try LlamaModel.load(path: Fixtures.tinyCheckpoint())
        let free = try model.generate(prompt: [3, 4], options: GenerationOptions(maxNewTokens: 12))
        let stop = free[3]
        // no bias: the answer ends at the stop token's first greedy appearance
        let plain = try model.generate(prompt: [3, 4], options: GenerationOptions(maxNewTokens: 12, stopTokens: [stop]))
        #expect(plain == Array(free[...3]))
        // a very low bias: the stop token is never chosen, as if it did not stop; a high one: chosen at once
        let never = try model.generate(prompt: [3, 4], options: GenerationOptions(maxNewTokens: 12, stopTokens: [stop], stopBias: -1e4))
        #expect(!never.contains(stop) && never.count == 12)
        let first = try model.generate(prompt: [3, 4], options: GenerationOptions(maxNewTokens: 12, stopTokens: [stop], stopBias: 1e4))
        #expect(first == [stop])
        // a bias that changes nothing at its first choice gives the same first tokens
        let slight = try model.generate(prompt: [3, 4], options: GenerationOptions(maxNewTokens: 12, stopTokens: [stop], stopBias: -1e-6))
        #expect(slight == plain)
    }
}
