// From DocRE's (prefix, question, answer) text to token ids the model trains and generates on, through
// the checkpoint's chat template, keeping the document prefix a token-exact shared prefix.
// Not prompt wording (DocRE's paradigms write that) and not batching for the GPU-less trainer's loss.
import DocRE
import FineTuning
import Foundation
import Tokenization

/// How one user turn is wrapped: `header` + (prefix + question) + `footer`, then the answer, then `end`.
/// Prefix and question are tokenized separately, so a document's prefix has the same ids whatever the
/// question, in training as in extraction. A sequence opens with BOS once, before the prefix, where the
/// tokenizer adds it (`tokenizer.ggml.add_bos_token`: Gemma yes, SmolLM2 no) and the template's opening does
/// not already write it (Mistral's `<s>`): where transformers' `tokenizer(text)` or `apply_chat_template` puts it.
///
///     let format = try PromptFormat(tokenizer: tok, chatTemplate: "model")
///     let (p, q) = format.encode(prefix: ex.prefix, question: ex.question)
public struct PromptFormat {
    public let tokenizer: Tokenizer
    public let header: String
    public let footer: String
    /// Ids that close an answer (the template's end-of-turn, else EOS).
    public let end: [Int]
    /// Ids that open every sequence, before the prefix: BOS where the tokenizer adds it and the header does
    /// not write it, else none.
    public let begin: [Int]

    /// `chatTemplate`: `model` (the checkpoint's), `none` (plain text), or a template name (chatml, smollm2, mistral, vicuna).
    public init(tokenizer: Tokenizer, chatTemplate: String) throws {
        self.tokenizer = tokenizer
        let template: ChatTemplate?
        switch chatTemplate {
        case "none": template = nil
        case "model":
            guard let t = tokenizer.chatTemplate else {
                throw ConfigError(file: "chat_template", reason: "the model has no chat template; use chat_template: none")
            }
            template = t
        default:
            guard let t = ChatTemplate.named(chatTemplate) else {
                throw ConfigError(file: "chat_template", reason: "unknown chat template '\(chatTemplate)'")
            }
            template = t
        }
        let marker = "\u{1}"
        if let template {
            let parts = template.render([ChatMessage(.user, marker)], addGenerationPrompt: true).components(separatedBy: marker)
            header = parts[0]; footer = parts.count > 1 ? parts[1] : ""
        } else {
            header = ""; footer = ""
        }
        let turnEnd = template == nil ? nil : tokenizer.endOfTurnTokenIds.first
        end = (turnEnd ?? tokenizer.eosTokenId).map { [$0] } ?? []
        if tokenizer.addBOS, let bos = tokenizer.bosTokenId, tokenizer.encode(header).first != bos {
            begin = [bos]
        } else {
            begin = []
        }
    }

    public func encode(prefix: String, question: String) -> (prefix: [Int], question: [Int]) {
        (encodePrefix(prefix), encodeQuestion(question))
    }
    /// BOS where it is added, the template's opening and the document prefix.
    public func encodePrefix(_ prefix: String) -> [Int] { begin + tokenizer.encode(header + prefix) }
    /// The stage question and the template's close of the user turn.
    public func encodeQuestion(_ question: String) -> [Int] { tokenizer.encode(question + footer) }

    /// The answer's ids followed by the end-of-answer ids.
    public func encodeAnswer(_ answer: String) -> [Int] { tokenizer.encode(answer) + end }

    /// Tokens at which generation stops.
    public var stopTokens: Set<Int> {
        var s = Set(end)
        if let e = tokenizer.eosTokenId { s.insert(e) }
        return s
    }

    /// Token ids whose text ends in a line break (where a generated line ends).
    public var lineBreakTokens: Set<Int> {
        Set((0..<tokenizer.vocabularySize).filter { id in
            guard !tokenizer.controlTokenIds.contains(id) else { return false }
            return tokenizer.decode([id], skipSpecialTokens: true).hasSuffix("\n")
        })
    }

    /// The generated text of `ids` without the end-of-answer token.
    public func decodeAnswer(_ ids: [Int]) -> String {
        tokenizer.decode(ids.filter { !stopTokens.contains($0) }, skipSpecialTokens: true)
    }
}

extension PromptFormat {
    /// Groups `examples` that share a prefix (the same document and stage, in document-first order) into
    /// `PrefixGroup`s of at most `maxQuestions` continuations, batched for stems of `stemMinimum` tokens
    /// (`Int.max`: by length only); an example whose prefix + question + answer exceeds `cutoff` tokens is
    /// dropped (and counted). Each group is labelled with its stage.
    public func groups(_ examples: [StageExample], cutoff: Int, maxQuestions: Int,
                       stemMinimum: Int = StemTree.defaultMinimum) -> EncodedExamples {
        var order: [String] = [], byPrefix: [String: (ids: [Int], conts: [Continuation])] = [:]
        var prefixCache: [String: [Int]] = [:]
        var stages: [String: Stage] = [:]
        var dropped = 0
        for ex in examples {
            let key = ex.title + "\u{1}" + ex.stage.rawValue + "\u{1}" + ex.prefix
            let p = prefixCache[ex.prefix] ?? encodePrefix(ex.prefix)
            prefixCache[ex.prefix] = p
            let q = encodeQuestion(ex.question), a = encodeAnswer(ex.answer)
            guard p.count + q.count + a.count <= cutoff else { dropped += 1; continue }
            if byPrefix[key] == nil { order.append(key); byPrefix[key] = (p, []); stages[key] = ex.stage }
            byPrefix[key]!.conts.append(Continuation(prompt: q, answer: a))
        }
        var groups: [PrefixGroup] = [], labels: [String] = []
        for key in order {
            let (ids, conts) = byPrefix[key]!
            for chunk in PrefixGroup.lengthBatches(conts, prefixLength: ids.count, maxQuestions: maxQuestions, stemMinimum: stemMinimum) {
                groups.append(PrefixGroup(prefix: ids, continuations: chunk))
                labels.append(stages[key]!.rawValue)
            }
        }
        return EncodedExamples(groups: groups, dropped: dropped, examples: examples.count, labels: labels)
    }
}
