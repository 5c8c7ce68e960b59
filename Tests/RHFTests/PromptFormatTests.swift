// Prompt ids against transformers' tokenizers, BOS included, and a paradigm's examples encoded into prefix
// groups. (Batching a prefix's questions by length is FineTuning's: Tests/FineTuningTests/LengthBatchTests.)
import DocRE
import FineTuning
import Foundation
import Testing
@testable import RHF

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
        #expect(encoded.labels.count == encoded.groups.count)
        for (g, label) in zip(encoded.groups, encoded.labels) {
            #expect(g.prefix.first == bos && g.prefix.filter { $0 == bos }.count == 1)
            for c in g.continuations {
                #expect(!c.prompt.contains(bos) && !c.answer.contains(bos))
                // each group is labelled with the stage of the questions it holds
                #expect(gemma.contains { $0.sequence_ids == g.prefix + c.prompt + c.answer && $0.stage == label })
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
