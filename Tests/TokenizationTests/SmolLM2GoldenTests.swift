// Token ids of the SmolLM2 GGUF tokenizer against transformers' goldens (Scripts/make_tokenizer_goldens.py):
// a fixed set of texts, and a hash per Re-DocRED dev document.
import Foundation
import Testing
import ModelFormats
@testable import Tokenization

@Suite("SmolLM2 tokenizer vs transformers goldens", .enabled(if: Fixtures.hasModel, "SmolLM2 GGUF not found (run Scripts/setup)"))
struct SmolLM2GoldenTests {
    static let cases: [[String: Any]] = ((try? Fixtures.json("smollm2_texts.json"))?["cases"] as? [[String: Any]]) ?? []

    @Test("ids equal transformers' on every golden text", arguments: 0..<22)
    func goldenIds(_ i: Int) throws {
        let tok = try #require(Fixtures.smolLM2)
        let c = try #require(Self.cases.count > i ? Self.cases[i] : nil)
        let text = c["text"] as! String, ids = c["ids"] as! [Int]
        let ours = tok.encode(text)
        #expect(ours == ids, "text: \(text.debugDescription)\nours:   \(tok.tokens(ours))\ngolden: \(c["tokens"]!)")
        #expect(tok.decode(ours) == text)
        #expect(tok.decode(ids) == (c["decoded"] as! String))
    }

    /// SmolLM2's vocabulary has no token for six control bytes (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D), so encoding
    /// drops them: transformers encodes "a\u{4}b" as [81, 82] ("a", "b"), and so do we. Every other C0 and C1
    /// control and DEL round-trips, in transformers and here. (Finding 5 of Docs/reliability.md: the fuzzer's
    /// round trip failed on 0x04; the reference ids were printed by transformers 5.24 from the same GGUF.)
    @Test func controlBytesWithoutATokenAreDroppedAsTransformersDrops() throws {
        let tok = try #require(Fixtures.smolLM2)
        let unspellable: Set<UInt32> = [0x04, 0x06, 0x13, 0x14, 0x16, 0x1D]
        for c in Array(0..<32) + [127] + Array(0x80..<0xA0) {
            let text = "a" + String(Character(UnicodeScalar(UInt32(c))!)) + "b"
            let ids = tok.encode(text)
            if unspellable.contains(UInt32(c)) {
                #expect(ids == [81, 82], "U+\(String(c, radix: 16)): \(tok.tokens(ids))")
            } else {
                #expect(tok.decode(ids) == text, "U+\(String(c, radix: 16)) does not round-trip: \(tok.tokens(ids))")
            }
        }
    }

    @Test("chat template renders and tokenizes as the GGUF's Jinja template")
    func chatTemplateMatchesJinja() throws {
        let tok = try #require(Fixtures.smolLM2)
        let template = try #require(tok.chatTemplate)
        let chats = try #require((try Fixtures.json("smollm2_texts.json"))["chats"] as? [[String: Any]])
        #expect(chats.count == 3)
        for c in chats {
            let msgs = (c["messages"] as! [[String: String]]).map { ChatMessage(ChatMessage.Role(rawValue: $0["role"]!)!, $0["content"]!) }
            let text = template.render(msgs, addGenerationPrompt: c["add_generation_prompt"] as! Bool)
            #expect(text == c["text"] as! String)
            #expect(tok.encode(text) == c["ids"] as! [Int])
        }
    }

    @Test func specialTokensAndConfig() throws {
        let tok = try #require(Fixtures.smolLM2)
        #expect(tok.flavor == .byteLevel)
        #expect(tok.vocabularySize == 49152)
        #expect(tok.bosTokenId == 1 && tok.eosTokenId == 2)
        #expect(tok.encode("<|im_start|>") == [1])
        #expect(tok.encode("<|im_start|>", parseSpecial: false).count > 1)
        #expect(tok.decode(tok.encode("<|im_start|>user\nhi<|im_end|>"), skipSpecialTokens: true) == "user\nhi")
        #expect(tok.chatTemplate == .chatML(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt))
    }

    @Test("every Re-DocRED dev document hashes as transformers' ids", .enabled(if: Fixtures.hasDev, "Re-DocRED dev not found"))
    func devHashes() throws {
        let tok = try #require(Fixtures.smolLM2)
        let golden = try Fixtures.json("smollm2_redocred_dev_hashes.json")
        let rows = golden["rows"] as! [[String: Any]]
        let docs = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.devPath))) as! [[String: Any]]
        let texts = docs.map { ($0["sents"] as! [[String]]).map { $0.joined(separator: " ") }.joined(separator: " ") }
        #expect(texts.count == rows.count)
        let start = Date()
        let all = texts.map { tok.encode($0) }
        let seconds = Date().timeIntervalSince(start)
        var mismatches: [String] = []
        var total = 0
        for (i, ids) in all.enumerated() where i < rows.count {
            total += ids.count
            let h = String(sha256Hex(Array(ids.map(String.init).joined(separator: ",").utf8)).prefix(16))
            if h != rows[i]["sha256"] as! String { mismatches.append("\(i) \(rows[i]["title"]!)") }
        }
        print("tokenized \(texts.count) dev documents (\(total) tokens) in \(String(format: "%.3f", seconds)) s")
        #expect(mismatches.isEmpty, "documents differing from transformers: \(mismatches.prefix(10))")
        #expect(total == golden["total_tokens"] as! Int)
        #expect(seconds < 5)
    }

    @Test func sha256KnownAnswer() {
        #expect(sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
