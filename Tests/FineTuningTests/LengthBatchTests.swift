// Batching a document's questions: hand-computed cases of the token cost it minimises (padding, runs of the
// prefix, stems shared by questions).
import Foundation
import Testing
@testable import FineTuning

@Suite struct LengthBatchTests {
    /// Continuations whose prompt + answer lengths are `lengths` (the answer carries the index, to track them).
    func conts(_ lengths: [Int]) -> [Continuation] {
        lengths.enumerated().map { i, n in Continuation(prompt: Array(repeating: 1, count: n - 1), answer: [i]) }
    }
    func lengths(_ b: [[Continuation]]) -> [[Int]] { b.map { $0.map { $0.prompt.count + $0.answer.count } } }

    @Test func shortAndLongQuestionsAreSeparatedWhenThePrefixIsCheap() {
        // one batch: 300 + 5·200 = 1300; [40 42 45][190 200]: 300 + 3·45 + 300 + 2·200 = 1135 (the least)
        let b = PrefixGroup.lengthBatches(conts([190, 40, 200, 42, 45]), prefixLength: 300, maxQuestions: 16, stemMinimum: .max)
        #expect(lengths(b) == [[40, 42, 45], [190, 200]])
        // with a 1000-token prefix a second run of it costs more than the padding: 2000 < 2535
        let one = PrefixGroup.lengthBatches(conts([190, 40, 200, 42, 45]), prefixLength: 1000, maxQuestions: 16, stemMinimum: .max)
        #expect(lengths(one) == [[40, 42, 45, 190, 200]])
    }

    @Test func batchesRespectTheLimitAndKeepEveryQuestion() {
        let c = conts(Array(repeating: 30, count: 20) + [31, 90])
        let b = PrefixGroup.lengthBatches(c, prefixLength: 500, maxQuestions: 16, stemMinimum: .max)
        #expect(b.allSatisfy { $0.count <= 16 } && b.count == 2)
        #expect(Set(b.flatMap { $0.map(\.answer) }) == Set(c.map(\.answer)))
        #expect(PrefixGroup.lengthBatches([], prefixLength: 5, maxQuestions: 4).isEmpty)
    }

    /// Three subjects each of two relations whose 50-token stems interleave by length: batching by prompt
    /// keeps each relation's questions together and its stem computed once per batch.
    @Test func questionsSharingAStemAreBatchedTogether() {
        func q(_ relation: Int, _ subject: Int) -> Continuation {
            Continuation(prompt: Array(repeating: relation, count: 50) + Array(repeating: 10 + subject, count: subject), answer: [subject])
        }
        let c = [q(5, 1), q(6, 2), q(5, 3), q(6, 4), q(5, 5), q(6, 6)]   // prompt + answer: 52 53 54 55 56 57
        let b = PrefixGroup.lengthBatches(c, prefixLength: 300, maxQuestions: 3, stemMinimum: 16)
        #expect(b.map { $0.map(\.answer[0]) } == [[1, 3, 5], [2, 4, 6]])
        // 300 + 50 + 3·(5 + 1) = 368 and 300 + 50 + 3·(6 + 1) = 371
        let cost = b.map { PrefixGroup(prefix: Array(repeating: 0, count: 300), continuations: $0).computedTokenCount(stemMinimum: 16) }
        #expect(cost == [368, 371])
        // by length alone: [52 53 54] [55 56 57], each batch with one stem shared by two questions
        #expect(PrefixGroup.lengthBatches(c, prefixLength: 300, maxQuestions: 3, stemMinimum: .max).map { $0.map(\.answer[0]) } == [[1, 2, 3], [4, 5, 6]])
    }
}
