// Fuzz target: tokenizer encode of arbitrary text. The first byte picks the tokenizer and the flags
// (special tokens added, special tokens parsed); the rest, as UTF-8 with invalid bytes replaced, is the
// text. Every id must be in the vocabulary, and a byte-level tokenizer must decode the ids to the text.
import FuzzSupport
import Tokenization
import TokenizerFuzzing

@_cdecl("fuzz_tokenizer_encode_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt {
    _ = tokenizers
    return runFuzzer(argc, argv, test)
}

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = inputBytes(data, count)
    let flags = Int(bytes.first ?? 0)
    let tokenizer = tokenizers[(flags >> 2) % tokenizers.count]
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    let addSpecial = flags & 1 != 0, parseSpecial = flags & 2 != 0
    let ids = tokenizer.encode(text, addSpecialTokens: addSpecial, parseSpecial: parseSpecial)
    precondition(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize }, "an id outside the vocabulary")
    let back = tokenizer.decode(ids)
    if tokenizer.flavor == .byteLevel && !addSpecial && !parseSpecial {
        precondition(back == text, "byte-level decode(encode(text)) differs from the text")
    }
    return 0
}
