// Length batching of a document's questions: hand-computed cases of the token cost it minimises.
import FineTuning
import Testing
@testable import AutoRE

@Suite struct LengthBatchTests {
    /// Continuations whose prompt + answer lengths are `lengths` (the answer carries the index, to track them).
    func conts(_ lengths: [Int]) -> [Continuation] {
        lengths.enumerated().map { i, n in Continuation(prompt: Array(repeating: 1, count: n - 1), answer: [i]) }
    }
    func lengths(_ b: [[Continuation]]) -> [[Int]] { b.map { $0.map { $0.prompt.count + $0.answer.count } } }

    @Test func shortAndLongQuestionsAreSeparatedWhenThePrefixIsCheap() {
        // one batch: 300 + 5·200 = 1300; [40 42 45][190 200]: 300 + 3·45 + 300 + 2·200 = 1135 (the least)
        let b = PromptFormat.lengthBatches(conts([190, 40, 200, 42, 45]), prefixLength: 300, maxQuestions: 16)
        #expect(lengths(b) == [[40, 42, 45], [190, 200]])
        // with a 1000-token prefix a second run of it costs more than the padding: 2000 < 2535
        let one = PromptFormat.lengthBatches(conts([190, 40, 200, 42, 45]), prefixLength: 1000, maxQuestions: 16)
        #expect(lengths(one) == [[40, 42, 45, 190, 200]])
    }

    @Test func batchesRespectTheLimitAndKeepEveryQuestion() {
        let c = conts(Array(repeating: 30, count: 20) + [31, 90])
        let b = PromptFormat.lengthBatches(c, prefixLength: 500, maxQuestions: 16)
        #expect(b.allSatisfy { $0.count <= 16 } && b.count == 2)
        #expect(Set(b.flatMap { $0.map(\.answer) }) == Set(c.map(\.answer)))
        #expect(PromptFormat.lengthBatches([], prefixLength: 5, maxQuestions: 4).isEmpty)
    }
}
