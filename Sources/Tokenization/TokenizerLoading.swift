// Building a Tokenizer from GGUF metadata (`tokenizer.ggml.*`) or from a Hugging Face tokenizer.json,
// with stage factories keyed on each stage's `type`. Not the encoding logic (Tokenizer.swift).

import Foundation
import ModelFormats

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
public enum GGUFTokenType: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

extension Tokenizer {
    /// From the tokenizer stored in a GGUF file: `tokenizer.ggml.model` "gpt2" (byte-level BPE) or "llama"
    /// (SentencePiece BPE with byte fallback).
    public convenience init(gguf: GGUFFile) throws {
        try self.init(ggufMetadata: gguf.metadata, source: gguf.path)
    }

    /// From GGUF metadata values (`tokenizer.ggml.*`, `tokenizer.chat_template`); `source` names them in errors.
    public convenience init(ggufMetadata m: [String: GGUFValue], source src: String) throws {
        func fail(_ r: String) -> TokenizerConfigError { TokenizerConfigError(source: src, reason: r) }
        guard let kind = m["tokenizer.ggml.model"]?.string else { throw fail("no tokenizer.ggml.model") }
        guard let tokens = m["tokenizer.ggml.tokens"]?.strings, !tokens.isEmpty else { throw fail("no tokenizer.ggml.tokens") }
        let types = m["tokenizer.ggml.token_type"]?.ints ?? []
        guard types.isEmpty || types.count == tokens.count else { throw fail("tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens") }
        var special: [String: Int] = [:], control = Set<Int>()
        for (i, t) in types.enumerated() {
            switch GGUFTokenType(rawValue: t) {
            case .control: special[tokens[i]] = i; control.insert(i)
            case .userDefined: special[tokens[i]] = i
            default: break
            }
        }
        let bos = m["tokenizer.ggml.bos_token_id"]?.int, eos = m["tokenizer.ggml.eos_token_id"]?.int
        let unk = m["tokenizer.ggml.unknown_token_id"]?.int
        for (k, v) in [("bos", bos), ("eos", eos), ("unknown", unk)] {
            if let v, v < 0 || v >= tokens.count { throw fail("tokenizer.ggml.\(k)_token_id \(v) is outside the vocabulary") }
        }
        let template = m["tokenizer.chat_template"]?.string.flatMap(ChatTemplate.detect(jinja:))
        switch kind {
        case "gpt2":
            guard let mergeStrings = m["tokenizer.ggml.merges"]?.strings else { throw fail("gpt2 tokenizer without tokenizer.ggml.merges") }
            let merges = try mergeStrings.map { s -> (String, String) in
                guard let sp = s.firstIndex(of: " ") else { throw fail("merge '\(s)' has no space") }
                return (String(s[..<sp]), String(s[s.index(after: sp)...]))
            }
            let pre = try PreTokenizerFactory.make(ggufPre: m["tokenizer.ggml.pre"]?.string, source: src)
            self.init(flavor: .byteLevel, model: BPEModel(tokens: tokens, merges: merges), preTokenizer: pre,
                      specialTokens: special, controlTokenIds: control, bosTokenId: bos, eosTokenId: eos, unknownTokenId: unk,
                      addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false, addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false,
                      chatTemplate: template)
        case "llama":
            guard let scores = m["tokenizer.ggml.scores"]?.doubles, scores.count == tokens.count else {
                throw fail("llama tokenizer needs tokenizer.ggml.scores, one per token")
            }
            // a NaN score has no rank among the others (fuzz finding 8: it trapped in BPEModel)
            if let bad = scores.firstIndex(where: \.isNaN) {
                throw fail("tokenizer.ggml.scores[\(bad)] (token '\(tokens[bad])') is not a number")
            }
            let prefix = m["tokenizer.ggml.add_space_prefix"]?.bool ?? true
            // SentencePiece control tokens (<s>, </s>) are not parsed from text by llama.cpp's SPM path unless
            // asked; we match them like HF's added tokens.
            self.init(flavor: .sentencePiece, model: BPEModel(tokens: tokens, scores: scores.map(Float.init)),
                      normalizer: (prefix ? [.prepend("▁")] : []) + [.replace(" ", "▁")],
                      preTokenizer: IdentityPreTokenizer(), specialTokens: special, controlTokenIds: control, byteFallback: true,
                      bosTokenId: bos, eosTokenId: eos, unknownTokenId: unk,
                      addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? true, addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false,
                      stripLeadingSpaceOnDecode: prefix, chatTemplate: template)
        default:
            throw fail("unsupported tokenizer.ggml.model '\(kind)' (gpt2 and llama are supported)")
        }
    }

    /// From a Hugging Face `tokenizer.json` (model type BPE), optionally with the `tokenizer_config.json`
    /// next to it for BOS/EOS and the chat template.
    public convenience init(tokenizerJSON path: String) throws {
        func fail(_ r: String) -> TokenizerConfigError { TokenizerConfigError(source: path, reason: r) }
        guard let d = FileManager.default.contents(atPath: path) else { throw fail("cannot read") }
        guard let j = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else { throw fail("not a JSON object") }
        let dir = (path as NSString).deletingLastPathComponent
        let cfgPath = dir + "/tokenizer_config.json"
        var cfg = FileManager.default.contents(atPath: cfgPath).flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } ?? [:]
        // newer transformers save the template beside the config as chat_template.jinja
        if cfg["chat_template"] == nil, let t = FileManager.default.contents(atPath: dir + "/chat_template.jinja") {
            cfg["chat_template"] = String(decoding: t, as: UTF8.self)
        }
        try self.init(tokenizerJSON: j, config: cfg, source: path)
    }

    public convenience init(tokenizerJSON j: [String: Any], config cfg: [String: Any] = [:], source: String) throws {
        func fail(_ r: String) -> TokenizerConfigError { TokenizerConfigError(source: source, reason: r) }
        guard let model = j["model"] as? [String: Any] else { throw fail("no model") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw fail("unsupported model type '\(type)' (BPE is supported)") }
        guard let vocab = model["vocab"] as? [String: Int] else { throw fail("model.vocab missing") }
        var added: [String: Int] = [:], control = Set<Int>()
        for a in j["added_tokens"] as? [[String: Any]] ?? [] {
            guard let c = a["content"] as? String, let id = a["id"] as? Int else { continue }
            added[c] = id
            if a["special"] as? Bool ?? false { control.insert(id) }
        }
        let size = max((vocab.values.max() ?? -1), (added.values.max() ?? -1)) + 1
        var tokens = [String](repeating: "", count: size)
        for (t, i) in vocab where i >= 0 { tokens[i] = t }
        for (t, i) in added where i >= 0 { tokens[i] = t }
        var merges: [(String, String)] = []
        for mm in model["merges"] as? [Any] ?? [] {
            if let s = mm as? String, let sp = s.firstIndex(of: " ") {
                merges.append((String(s[..<sp]), String(s[s.index(after: sp)...])))
            } else if let p = mm as? [String], p.count == 2 {
                merges.append((p[0], p[1]))
            } else { throw fail("unreadable merge \(mm)") }
        }
        var norm: [NormalizerStep] = try NormalizerFactory.make(j["normalizer"] as? [String: Any], source: source)
        var (pre, byteLevel) = try PreTokenizerFactory.make(j["pre_tokenizer"] as? [String: Any], source: source)
        var strip = false
        if let p = j["pre_tokenizer"] as? [String: Any], p["type"] as? String == "Metaspace" {
            // Metaspace: spaces become its replacement character, prefixed unless prepend_scheme is "never"
            let rep = p["replacement"] as? String ?? "▁"
            norm.append(.replace(" ", rep))
            if (p["prepend_scheme"] as? String ?? "always") != "never" && (p["add_prefix_space"] as? Bool ?? true) { norm.append(.prepend(rep)) }
            if !(p["split"] as? Bool ?? true) { pre = IdentityPreTokenizer() }
            strip = true
        }
        let decoderTypes = Self.decoderTypes(j["decoder"] as? [String: Any])
        if decoderTypes.contains("ByteLevel") { byteLevel = true }
        if decoderTypes.contains("Strip") || norm.contains(.prepend("▁")) { strip = strip || !byteLevel }
        func tokenId(_ key: String) -> Int? {
            let v = cfg[key]
            let s = (v as? String) ?? ((v as? [String: Any])?["content"] as? String)
            return s.flatMap { added[$0] ?? vocab[$0] }
        }
        let template = (cfg["chat_template"] as? String).flatMap(ChatTemplate.detect(jinja:))
        self.init(flavor: byteLevel ? .byteLevel : .sentencePiece, model: BPEModel(tokens: tokens, merges: merges),
                  normalizer: norm, preTokenizer: pre, specialTokens: added, controlTokenIds: control,
                  byteFallback: model["byte_fallback"] as? Bool ?? false,
                  bosTokenId: tokenId("bos_token"), eosTokenId: tokenId("eos_token"),
                  unknownTokenId: (model["unk_token"] as? String).flatMap { vocab[$0] },
                  addBOS: cfg["add_bos_token"] as? Bool ?? false, addEOS: cfg["add_eos_token"] as? Bool ?? false,
                  stripLeadingSpaceOnDecode: strip, chatTemplate: template)
    }

    static func decoderTypes(_ d: [String: Any]?) -> [String] {
        guard let d, let t = d["type"] as? String else { return [] }
        if t == "Sequence" { return (d["decoders"] as? [[String: Any]] ?? []).flatMap { decoderTypes($0) } }
        return [t]
    }
}

/// Builds normaliser steps from tokenizer.json's `normalizer`, keyed on `type`.
public enum NormalizerFactory {
    public static func make(_ json: [String: Any]?, source: String) throws -> [NormalizerStep] {
        guard let json else { return [] }
        let type = json["type"] as? String ?? "?"
        switch type {
        case "Sequence":
            return try (json["normalizers"] as? [[String: Any]] ?? []).flatMap { try make($0, source: source) }
        case "Prepend": return [.prepend(json["prepend"] as? String ?? "▁")]
        case "Replace":
            guard let pat = (json["pattern"] as? [String: Any])?["String"] as? String else {
                throw TokenizerConfigError(source: source, reason: "Replace normalizer with a regex pattern is unsupported")
            }
            return [.replace(pat, json["content"] as? String ?? "")]
        case "NFC": return [.nfc]
        case "Lowercase": return [.lowercase]
        default: throw TokenizerConfigError(source: source, reason: "unsupported normalizer type '\(type)'")
        }
    }
}
