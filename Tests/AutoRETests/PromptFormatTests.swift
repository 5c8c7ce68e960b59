// Batching a document's questions: hand-computed cases of the token cost it minimises (padding, runs of the
// prefix, stems shared by questions). Prompt ids against transformers' tokenizers, BOS included.
import DocRE
import FineTuning
import Foundation
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
        let b = PromptFormat.lengthBatches(conts([190, 40, 200, 42, 45]), prefixLength: 300, maxQuestions: 16, stemMinimum: .max)
        #expect(lengths(b) == [[40, 42, 45], [190, 200]])
        // with a 1000-token prefix a second run of it costs more than the padding: 2000 < 2535
        let one = PromptFormat.lengthBatches(conts([190, 40, 200, 42, 45]), prefixLength: 1000, maxQuestions: 16, stemMinimum: .max)
        #expect(lengths(one) == [[40, 42, 45, 190, 200]])
    }

    @Test func batchesRespectTheLimitAndKeepEveryQuestion() {
        let c = conts(Array(repeating: 30, count: 20) + [31, 90])
        let b = PromptFormat.lengthBatches(c, prefixLength: 500, maxQuestions: 16, stemMinimum: .max)
        #expect(b.allSatisfy { $0.count <= 16 } && b.count == 2)
        #expect(Set(b.flatMap { $0.map(\.answer) }) == Set(c.map(\.answer)))
        #expect(PromptFormat.lengthBatches([], prefixLength: 5, maxQuestions: 4).isEmpty)
    }

    /// Three subjects each of two relations whose 50-token stems interleave by length: batching by prompt
    /// keeps each relation's questions together and its stem computed once per batch.
    @Test func questionsSharingAStemAreBatchedTogether() {
        func q(_ relation: Int, _ subject: Int) -> Continuation {
            Continuation(prompt: Array(repeating: relation, count: 50) + Array(repeating: 10 + subject, count: subject), answer: [subject])
        }
        let c = [q(5, 1), q(6, 2), q(5, 3), q(6, 4), q(5, 5), q(6, 6)]   // prompt + answer: 52 53 54 55 56 57
        let b = PromptFormat.lengthBatches(c, prefixLength: 300, maxQuestions: 3, stemMinimum: 16)
        #expect(b.map { $0.map(\.answer[0]) } == [[1, 3, 5], [2, 4, 6]])
        // 300 + 50 + 3·(5 + 1) = 368 and 300 + 50 + 3·(6 + 1) = 371
        let cost = b.map { PrefixGroup(prefix: Array(repeating: 0, count: 300), continuations: $0).computedTokenCount(stemMinimum: 16) }
        #expect(cost == [368, 371])
        // by length alone: [52 53 54] [55 56 57], each batch with one stem shared by two questions
        #expect(PromptFormat.lengthBatches(c, prefixLength: 300, maxQuestions: 3, stemMinimum: .max).map { $0.map(\.answer[0]) } == [[1, 2, 3], [4, 5, 6]])
    }
}

/// PromptFormat's ids against transformers' tokenizers on the same GGUFs (Scripts/make_prompt_goldens.py):
/// the prompt the model reads (prefix + question) and the whole training sequence (+ answer + end), in the
/// plain format and, for SmolLM2, its chat template. Gemma's tokenizer adds BOS, so every sequence begins
/// with it once; SmolLM2's adds none. Skipped, with the reason shown, when the models are not cached.
@Suite(.enabled(if: PromptGoldens.modelsCached, "SmolLM2 or Gemma 3 GGUF not in $AUTORE_HOME/models (run bash Scripts/setup)"))
struct PromptFormatGoldenTests {
    @Test func idsEqualTransformersWithBOSOnceWhereTheTokenizerAddsIt() throws {
        let golden = try PromptGoldens.load()
        #expect(Set(golden.cases.map(\.model)).count == 2 && Set(golden.cases.map(\.chat_template)) == ["none", "model"])
        var formats: [String: PromptFormat] = [:]
        for c in golden.cases {
            let key = c.model + " " + c.chat_template
            if formats[key] == nil {
                let tok = try ModelLocation.tokenizer(at: try ModelLocation.resolve(PromptGoldens.home + "/models/" + c.model))
                formats[key] = try PromptFormat(tokenizer: tok, chatTemplate: c.chat_template)
            }
            let f = formats[key]!
            let prompt = f.encodePrefix(c.prefix) + f.encodeQuestion(c.question)
            #expect(prompt == c.prompt_ids, "\(key) \(c.stage) prompt of \(c.title)")
            #expect(prompt + f.encodeAnswer(c.answer) == c.sequence_ids, "\(key) \(c.stage) sequence of \(c.title)")
            // BOS opens the sequence exactly once where the tokenizer adds it, and nowhere where it does not
            let bos = f.tokenizer.bosTokenId
            let count = c.sequence_ids.filter { $0 == bos }.count
            if c.model.hasPrefix("gemma") {
                #expect(c.sequence_ids.first == bos && count == 1 && f.begin == [bos!], "\(key)")
            } else {
                // (SmolLM2's chat template opens with <|im_start|>, which is also its BOS token: written by the
                // template, not added)
                #expect(f.begin.isEmpty && !f.tokenizer.addBOS && (c.chat_template != "none" || c.sequence_ids.first != bos), "\(key)")
            }
        }
    }

    /// Training groups: the prefix carries BOS (once), the continuations never do, for every question of a
    /// document; the same ids as the golden's.
    @Test func trainingGroupsBeginWithBOSOncePerSequence() throws {
        let golden = try PromptGoldens.load()
        let gemma = golden.cases.filter { $0.model.hasPrefix("gemma") && $0.chat_template == "none" }
        let tok = try ModelLocation.tokenizer(at: try ModelLocation.resolve("gemma3"))
        let f = try PromptFormat(tokenizer: tok, chatTemplate: "none")
        let examples = try gemma.map { c in
            let fields: [String: Any] = ["title": c.title, "paradigm": "D_R_H_F_desc", "stage": c.stage, "prefix": c.prefix,
                                         "question": c.question, "answer": c.answer, "copy": 0, "descriptions": "own",
                                         "order": "documentFirst"]
            return try JSONDecoder().decode(StageExample.self, from: JSONSerialization.data(withJSONObject: fields))
        }
        let encoded = f.groups(examples, cutoff: 4096, maxQuestions: 16)
        #expect(encoded.dropped == 0 && encoded.groups.reduce(0) { $0 + $1.continuations.count } == gemma.count)
        let bos = try #require(tok.bosTokenId)
        for g in encoded.groups {
            #expect(g.prefix.first == bos && g.prefix.filter { $0 == bos }.count == 1)
            for c in g.continuations {
                #expect(!c.prompt.contains(bos) && !c.answer.contains(bos))
                #expect(gemma.contains { $0.sequence_ids == g.prefix + c.prompt + c.answer })
            }
        }
    }
}

enum PromptGoldens {
    static let home = ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
    static var modelsCached: Bool {
        ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"].allSatisfy { FileManager.default.fileExists(atPath: home + "/models/" + $0) }
    }
    struct Case: Decodable {
        let model: String, chat_template: String, stage: String, title: String
        let prefix: String, question: String, answer: String
        let prompt_ids: [Int], sequence_ids: [Int]
    }
    struct File: Decodable { let reference: String; let cases: [Case] }
    static func load() throws -> File {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TokenizationTests/Fixtures/prompt_format_ids.json")
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }
}
