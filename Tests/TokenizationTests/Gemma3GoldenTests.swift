// Token ids of the Gemma 3 270M GGUF tokenizer (SentencePiece-style `llama` model, 262,144 tokens, BOS added)
// against transformers' goldens (Scripts/make_gemma_goldens.py): awkward texts, and a hash per Re-DocRED dev
// document. Skipped, with the reason shown, when the model is not cached (Scripts/setup fetches it).
import Foundation
import Testing
import ModelFormats
@testable import Tokenization

extension Fixtures {
    static var gemmaPath: String {
        let home = ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
        return home + "/models/gemma-3-270m-q4_k_m.gguf"
    }
    static var hasGemma: Bool { FileManager.default.fileExists(atPath: gemmaPath) }
    /// The Gemma 3 tokenizer, loaded once for all tests.
    static let gemma3: Tokenizer? = hasGemma ? try? Tokenizer(gguf: GGUFFile(path: gemmaPath)) : nil
}

@Suite("Gemma 3 tokenizer vs transformers goldens",
       .enabled(if: Fixtures.hasGemma, "Gemma 3 270M GGUF not found in $AUTORE_HOME/models (run bash Scripts/setup)"))
struct Gemma3GoldenTests {
    static let golden: [String: Any] = (try? Fixtures.json("gemma3_texts.json")) ?? [:]
    static let cases: [[String: Any]] = golden["cases"] as? [[String: Any]] ?? []

    @Test("ids equal transformers' on every awkward text", arguments: 0..<20)
    func goldenIds(_ i: Int) throws {
        let tok = try #require(Fixtures.gemma3)
        let c = try #require(Self.cases.count > i ? Self.cases[i] : nil)
        let text = c["text"] as! String, ids = c["ids"] as! [Int]
        let ours = tok.encode(text)
        #expect(ours == ids, "text: \(text.debugDescription)\nours:   \(tok.tokens(ours))\ngolden: \(c["tokens"]!)")
        #expect(tok.decode(ids) == (c["decoded"] as! String))
    }

    @Test func vocabularyAndSpecialTokens() throws {
        let tok = try #require(Fixtures.gemma3)
        #expect(tok.flavor == .sentencePiece && tok.vocabularySize == 262_144)
        #expect(tok.bosTokenId == 2 && tok.eosTokenId == 1 && tok.addBOS)
        // transformers' tokenizer(text) puts BOS first; encode(addSpecialTokens:) does the same
        #expect(tok.encode("Hello", addSpecialTokens: true) == Self.golden["bos_ids"] as! [Int])
        #expect(tok.encode("<start_of_turn>") == [tok.id("<start_of_turn>")!])
        #expect(tok.decode(tok.encode("Paris, France."), skipSpecialTokens: true) == "Paris, France.")
    }

    /// What constrained decoding spells with (`textBytes(of:)`) is what an answer decodes to, token by token,
    /// for all 262,144 tokens: after a plain token, each token adds exactly its text bytes (none for control
    /// tokens). The newline, user-defined in this vocabulary, once had none, so constrained lists ended after
    /// their first line.
    @Test func everyTokensTextBytesAreWhatDecodingWrites() throws {
        let tok = try #require(Fixtures.gemma3)
        let newline = try #require(tok.encode("a\nb").dropFirst().first)
        #expect(tok.textBytes(of: newline) == [0x0A])
        let a = try #require(tok.encode("a").first)
        let lead = Array(tok.decode([a], skipSpecialTokens: true).utf8)
        var mismatches: [Int] = []
        for id in 0..<tok.vocabularySize {
            let written = Array(tok.decode([a, id], skipSpecialTokens: true).utf8)
            let expected = lead + (tok.textBytes(of: id) ?? [])
            // a piece of a character decodes to U+FFFD either way; compare whole texts only
            if written != expected && String(bytes: expected, encoding: .utf8) != nil { mismatches.append(id) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) tokens, first \(mismatches.prefix(10).map { "\($0) \(tok.tokens([$0])[0].debugDescription)" })")
    }

    @Test("every Re-DocRED dev document hashes as transformers' ids", .enabled(if: Fixtures.hasDev, "Re-DocRED dev not found"))
    func devHashes() throws {
        let tok = try #require(Fixtures.gemma3)
        let golden = try Fixtures.json("gemma3_redocred_dev_hashes.json")
        let rows = golden["rows"] as! [[String: Any]]
        let docs = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.devPath))) as! [[String: Any]]
        let texts = docs.map { ($0["sents"] as! [[String]]).map { $0.joined(separator: " ") }.joined(separator: " ") }
        #expect(texts.count == rows.count && rows.count == 500)
        let start = Date()
        let all = texts.map { tok.encode($0) }
        let seconds = Date().timeIntervalSince(start)
        var mismatches: [String] = []
        var total = 0
        for (i, ids) in all.enumerated() where i < rows.count {
            total += ids.count
            let h = String(sha256Hex(Array(ids.map(String.init).joined(separator: ",").utf8)).prefix(16))
            if h != rows[i]["sha256"] as! String { mismatches.append("\(i) \(rows[i]["title"]!) (\(ids.count) vs \(rows[i]["count"]!) ids)") }
        }
        print("Gemma 3: tokenized \(texts.count) dev documents (\(total) tokens) in \(String(format: "%.3f", seconds)) s")
        #expect(mismatches.isEmpty, "documents differing from transformers: \(mismatches.prefix(10))")
        #expect(total == golden["total_tokens"] as! Int)
    }
}
