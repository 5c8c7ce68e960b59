// The tokenizers both tokenizer targets run: two tiny hand-made ones (byte-level BPE and SentencePiece BPE
// with byte fallback, loaded from GGUF-style metadata like the real ones) and, when the model is present
// under $AUTORE_HOME/models (default ~/.cache/autore/models), SmolLM2's from its GGUF file; Gemma 3's too
// with AUTORE_FUZZ_GEMMA=1 (its 262k-token vocabulary takes long to load under the sanitizer).
import Foundation
import FuzzSupport
import ModelFormats
import Tokenization

func tinyByteLevel() -> Tokenizer {
    var tokens = ByteLevel.byteToScalar.map { String($0) }
    let merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("Ġa", "nd"), ("n", "d"), ("o", "n")]
    tokens += merges.map { $0.0 + $0.1 }
    tokens += ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    let n = tokens.count
    let meta: [String: GGUFValue] = [
        "tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.pre": .string("smollm"),
        "tokenizer.ggml.tokens": .array(tokens.map { .string($0) }),
        "tokenizer.ggml.token_type": .array((0..<n).map { .int32($0 >= n - 3 ? 3 : 1) }),
        "tokenizer.ggml.merges": .array(merges.map { .string("\($0.0) \($0.1)") }),
        "tokenizer.ggml.bos_token_id": .uint32(UInt32(n - 3)), "tokenizer.ggml.eos_token_id": .uint32(UInt32(n - 2)),
    ]
    return try! Tokenizer(ggufMetadata: meta, source: "tiny byte-level")
}

func tinySentencePiece() -> Tokenizer {
    var tokens = ["<unk>", "<s>", "</s>"] + (0..<256).map { String(format: "<0x%02X>", $0) }
    var types = [2, 3, 3] + [Int](repeating: 6, count: 256)
    let pieces = ["▁", "▁the", "▁a", "e", "t", "h", "a", "▁t", "he", "in", "▁in", "er", "é", "日本", "▁日本"]
    tokens += pieces; types += [Int](repeating: 1, count: pieces.count)
    let scores = tokens.indices.map { i in i < 259 ? Float(0) : -Float(i - 259) }
    let meta: [String: GGUFValue] = [
        "tokenizer.ggml.model": .string("llama"),
        "tokenizer.ggml.tokens": .array(tokens.map { .string($0) }),
        "tokenizer.ggml.scores": .array(scores.map { .float32($0) }),
        "tokenizer.ggml.token_type": .array(types.map { .int32(Int32($0)) }),
        "tokenizer.ggml.bos_token_id": .uint32(1), "tokenizer.ggml.eos_token_id": .uint32(2), "tokenizer.ggml.unknown_token_id": .uint32(0),
    ]
    return try! Tokenizer(ggufMetadata: meta, source: "tiny SentencePiece")
}

/// The hand-made tokenizers, then the real ones found.
public let tokenizers: [Tokenizer] = {
    var out = [tinyByteLevel(), tinySentencePiece()]
    let env = ProcessInfo.processInfo.environment
    let home = env["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
    for name in ["SmolLM2-135M-Instruct.Q4_1.gguf"] + (env["AUTORE_FUZZ_GEMMA"] == "1" ? ["gemma-3-270m-q4_k_m.gguf"] : []) {
        let path = home + "/models/" + name
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write(Data("fuzz: \(path) not found; its tokenizer is not fuzzed\n".utf8)); continue
        }
        out.append(try! Tokenizer(gguf: GGUFFile(path: path)))
    }
    return out
}()

/// A tokenizer target's input: the first byte picks the tokenizer (its bits 2 and up) and two flags (bits 0
/// and 1, each target says what they mean); the rest is the body.
public struct TokenizerInput {
    public let tokenizer: Tokenizer
    public let flags: Int
    public let body: ArraySlice<UInt8>
    public init(_ data: UnsafePointer<UInt8>?, _ count: Int) {
        let bytes = inputBytes(data, count)
        flags = Int(bytes.first ?? 0)
        tokenizer = tokenizers[(flags >> 2) % tokenizers.count]
        body = bytes.dropFirst()
    }
}

/// libFuzzer's main for a tokenizer target, with the tokenizers loaded before the first input (so that
/// loading them is not timed as one input).
public func runTokenizerFuzzer(_ argc: CInt, _ argv: Argv, _ test: FuzzInput) -> CInt {
    _ = tokenizers
    return runFuzzer(argc, argv, test)
}
