// Tokenizer stages without the real model: the GPT-2 pre-tokeniser, the BPE heap merge, SentencePiece BPE
// with byte fallback on a tiny vocabulary, tokenizer.json loading, and chat templates.
import Foundation
import Testing
import ModelFormats
@testable import Tokenization

@Suite struct PreTokenizerTests {
    func words(_ p: any PreTokenizer, _ s: String) -> [String] {
        let t = ScalarText(s[...])
        return p.pieces(t).map { t.string($0) }
    }

    @Test func gpt2Pattern() {
        let p = GPT2PreTokenizer()
        #expect(words(p, "Hello world") == ["Hello", " world"])
        #expect(words(p, "I'm you've they'll IT'S") == ["I", "'m", " you", "'ve", " they", "'ll", " IT", "'", "S"])
        #expect(words(p, "a  b") == ["a", " ", " b"])
        #expect(words(p, "a \n\nb") == ["a", " \n", "\n", "b"])
        #expect(words(p, "end   ") == ["end", "   "])
        #expect(words(p, "x\ty") == ["x", "\t", "y"])
        #expect(words(p, "12ab!?'s") == ["12", "ab", "!?'", "s"])
        #expect(words(p, "café 日本 ½") == ["café", " 日本", " ½"])
        #expect(words(p, "") == [])
    }

    @Test func digitsThenGPT2() {
        let p = SequencePreTokenizer([DigitsPreTokenizer(individualDigits: true), GPT2PreTokenizer()])
        #expect(words(p, "in 2024, x") == ["in", " ", "2", "0", "2", "4", ",", " x"])
        #expect(words(DigitsPreTokenizer(individualDigits: false), "a12b3") == ["a", "12", "b", "3"])
    }
}

@Suite struct BPEAndSentencePieceTests {
    @Test func mergesApplyByRankWithTiesLeftmost() {
        let tokens = ["a", "b", "c", "ab", "bc", "abc", "aa", "aaa"]
        let bpe = BPEModel(tokens: tokens, merges: [("b", "c"), ("a", "b"), ("a", "bc"), ("a", "a")])
        func enc(_ s: String) -> [String] { bpe.merge(s.map { bpe.id(String($0))! }).map { tokens[Int($0)] } }
        #expect(enc("abc") == ["abc"])            // b+c first (rank 0), then a+bc
        #expect(enc("abab") == ["ab", "ab"])
        #expect(enc("aaa") == ["aa", "a"])        // leftmost on equal rank; "aaa" has no merge rule
        #expect(enc("") == [] && enc("c") == ["c"])
    }

    /// A tiny SentencePiece-style vocabulary with byte tokens.
    func spm() -> Tokenizer {
        var tokens = ["<unk>", "<s>", "</s>"] + (0..<256).map { String(format: "<0x%02X>", $0) }
        var scores = [Float](repeating: 0, count: tokens.count)
        let pieces: [(String, Float)] = [("▁", -1), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("w", -2), ("r", -2), ("d", -2),
                                         ("▁h", -3), ("ll", -3.5), ("llo", -4), ("ello", -4.2), ("▁hello", -5), ("▁w", -7), ("or", -7)]
        for (p, s) in pieces { tokens.append(p); scores.append(s) }
        return Tokenizer(flavor: .sentencePiece, model: BPEModel(tokens: tokens, scores: scores),
                         normalizer: [.prepend("▁"), .replace(" ", "▁")], preTokenizer: IdentityPreTokenizer(),
                         specialTokens: ["<s>": 1, "</s>": 2], controlTokenIds: [1, 2], byteFallback: true,
                         bosTokenId: 1, eosTokenId: 2, unknownTokenId: 0, addBOS: true, stripLeadingSpaceOnDecode: true)
    }

    @Test func sentencePieceMergesByScoreWithByteFallback() throws {
        let t = spm()
        let ids = t.encode("hello world", addSpecialTokens: true)
        // best score first: ▁h (−3), ll (−3.5), llo (−4), ello (−4.2), ▁hello (−5); then the tie ▁w / or (−7)
        // goes to the leftmost pair; "é" is not in the vocabulary → its UTF-8 bytes C3 A9
        #expect(t.tokens(ids) == ["<s>", "▁hello", "▁w", "or", "l", "d"])
        #expect(t.decode(ids, skipSpecialTokens: true) == "hello world")
        let accented = t.encode("hé")
        #expect(t.tokens(accented) == ["▁h", "<0xC3>", "<0xA9>"])
        #expect(t.decode(accented) == "hé")
        #expect(t.decode(t.encode("</s>hello")) == "</s> hello")   // a special token, then a prefixed segment
    }

    @Test func tokenizerJSONByteLevel() throws {
        let json: [String: Any] = [
            "added_tokens": [["id": 5, "content": "<|end|>", "special": true]],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "decoder": ["type": "ByteLevel"],
            "model": ["type": "BPE", "vocab": ["h": 0, "i": 1, "Ġ": 2, "hi": 3, "Ġhi": 4], "merges": ["h i", ["Ġ", "hi"]]],
        ]
        let t = try Tokenizer(tokenizerJSON: json, source: "inline")
        #expect(t.flavor == .byteLevel)
        #expect(t.encode("hi hi<|end|>") == [3, 4, 5])
        #expect(t.decode([3, 4, 5]) == "hi hi<|end|>")
        #expect(t.decode([3, 4, 5], skipSpecialTokens: true) == "hi hi")
        #expect(throws: TokenizerConfigError.self) {
            _ = try Tokenizer(tokenizerJSON: ["model": ["type": "WordPiece", "vocab": [:] as [String: Int]]], source: "inline")
        }
        #expect(throws: TokenizerConfigError.self) {
            _ = try Tokenizer(tokenizerJSON: ["model": ["type": "BPE", "vocab": ["a": 0]], "pre_tokenizer": ["type": "Punctuation"]], source: "inline")
        }
    }
}

@Suite struct ChatTemplateTests {
    @Test func chatMLWithSmolLM2Default() {
        let t = ChatTemplate.named("smollm2")!
        #expect(t.render([ChatMessage(.user, "Hi")]) ==
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(t.render([ChatMessage(.system, "S"), ChatMessage(.user, "Hi")], addGenerationPrompt: false) ==
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
        #expect(ChatTemplate.named("chatml")!.render([ChatMessage(.user, "Hi")]) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func mistralAndVicuna() {
        let msgs = [ChatMessage(.system, "Be brief."), ChatMessage(.user, "Q1"), ChatMessage(.assistant, "A1"), ChatMessage(.user, "Q2")]
        #expect(ChatTemplate.mistral.render(msgs) == "<s>[INST] Be brief.\n\nQ1 [/INST]A1</s>[INST] Q2 [/INST]")
        #expect(ChatTemplate.vicuna(systemPrompt: "SYS").render(Array(msgs.dropFirst())) == "SYS USER: Q1 ASSISTANT: A1</s>USER: Q2 ASSISTANT:")
    }

    @Test func detection() {
        #expect(ChatTemplate.detect(jinja: "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}") == .mistral)
        #expect(ChatTemplate.detect(jinja: "{{ 'USER: ' + m }} ASSISTANT:") == .vicuna(systemPrompt: ChatTemplate.vicunaSystemPrompt))
        #expect(ChatTemplate.detect(jinja: "{{'<|im_start|>' + message['role'] + '\\n'}}") == .chatML(defaultSystemPrompt: nil))
        #expect(ChatTemplate.detect(jinja: "{% raw %}") == nil)
    }
}

/// Our scanners against the `tokenizers` regex engine on the same patterns (Fixtures/pretokenizer_pieces.json).
@Suite struct PreTokenizerGoldenTests {
    static let golden: [String: Any] = (try? Fixtures.json("pretokenizer_pieces.json")) ?? [:]

    @Test(arguments: ["gpt2", "llama3", "qwen2"])
    func piecesEqualTheRegexEngine(_ name: String) throws {
        let p: any PreTokenizer = switch name {
        case "gpt2": GPT2PreTokenizer()
        case "llama3": Llama3PreTokenizer(maxDigits: 3)
        default: Llama3PreTokenizer(maxDigits: 1)
        }
        let cases = try #require((Self.golden[name] as? [String: Any])?["cases"] as? [[String: Any]])
        #expect(cases.count > 20)
        for c in cases {
            let text = c["text"] as! String
            let t = ScalarText(text[...])
            let ours = p.pieces(t).map { t.string($0) }
            #expect(ours == c["pieces"] as! [String], "\(name): \(text.debugDescription)")
        }
    }
}

/// SentencePiece BPE with byte fallback, loaded from GGUF-style metadata, against sentencepiece itself
/// (Fixtures/sentencepiece_bpe.json: a 1000-piece model trained with Llama-2's options).
@Suite struct SentencePieceGoldenTests {
    static let golden: [String: Any] = (try? Fixtures.json("sentencepiece_bpe.json")) ?? [:]

    func tokenizer() throws -> Tokenizer {
        let g = Self.golden
        let tokens = try #require(g["tokens"] as? [String])
        let meta: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("llama"),
            "tokenizer.ggml.tokens": .array(tokens.map { .string($0) }),
            "tokenizer.ggml.scores": .array((g["scores"] as! [Double]).map { .float32(Float($0)) }),
            "tokenizer.ggml.token_type": .array((g["token_type"] as! [Int]).map { .int32(Int32($0)) }),
            "tokenizer.ggml.bos_token_id": .uint32(1), "tokenizer.ggml.eos_token_id": .uint32(2),
            "tokenizer.ggml.unknown_token_id": .uint32(0),
            "tokenizer.chat_template": .string("{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"),
        ]
        return try Tokenizer(ggufMetadata: meta, source: "sentencepiece_bpe.json")
    }

    /// Fuzz finding 8: a NaN score has no rank among the others; the loader refuses it, naming the token.
    @Test func aNaNScoreIsRefused() throws {
        let meta: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("llama"),
            "tokenizer.ggml.tokens": .array(["<unk>", "a", "b", "ab"].map { .string($0) }),
            "tokenizer.ggml.scores": .array([0, -1, -2, .nan].map { .float32($0) }),
        ]
        var message = ""
        do { _ = try Tokenizer(ggufMetadata: meta, source: "nan.gguf") } catch { message = "\(error)" }
        #expect(message.contains("nan.gguf") && message.contains("tokenizer.ggml.scores[3] (token 'ab') is not a number"), "\(message)")
        // the same vocabulary with a number there loads, and merges a + b
        var fine = meta
        fine["tokenizer.ggml.scores"] = .array([0, -1, -2, -3].map { .float32($0) })
        let t = try Tokenizer(ggufMetadata: fine, source: "fine.gguf")
        #expect(t.tokens(t.encode("ab", addSpecialTokens: false)).contains("ab"))
    }

    @Test func idsEqualSentencePiece() throws {
        let t = try tokenizer()
        #expect(t.flavor == .sentencePiece && t.addBOS && t.chatTemplate == .mistral)
        let cases = try #require(Self.golden["cases"] as? [[String: Any]])
        #expect(cases.count > 20)
        for c in cases {
            let text = c["text"] as! String
            let ids = t.encode(text)
            #expect(ids == c["ids"] as! [Int], "\(text.debugDescription)\nours: \(t.tokens(ids))\nwant: \(t.tokens(c["ids"] as! [Int]))")
            #expect(t.decode(ids) == c["decoded"] as! String)
            #expect(t.decode(ids) == text)
        }
        #expect(t.encode("hi", addSpecialTokens: true).first == 1)
    }

    @Test func refusesBrokenMetadata() {
        #expect(throws: TokenizerConfigError.self) { _ = try Tokenizer(ggufMetadata: ["tokenizer.ggml.model": .string("bert")], source: "m") }
        #expect(throws: TokenizerConfigError.self) {
            _ = try Tokenizer(ggufMetadata: ["tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": .array([.string("a")])], source: "m")
        }
        #expect(throws: TokenizerConfigError.self) {
            _ = try Tokenizer(ggufMetadata: ["tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.tokens": .array([.string("a")]),
                                             "tokenizer.ggml.merges": .array([]), "tokenizer.ggml.pre": .string("mystery")], source: "m")
        }
    }
}
