// Fuzz target: tokenizer decode of arbitrary ids. The first byte picks the tokenizer, whether special
// tokens are skipped, and whether ids are taken modulo the vocabulary (mostly valid ids) or as they come
// (negative and huge ones too); the rest is the ids, 4 bytes each, little-endian.
import FuzzSupport
import Tokenization
import TokenizerFuzzing

@_cdecl("fuzz_tokenizer_decode_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runTokenizerFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = TokenizerInput(data, count)
    let (tokenizer, flags, body) = (input.tokenizer, input.flags, Array(input.body))
    var ids: [Int] = []
    for i in stride(from: 0, to: body.count - 3, by: 4) {
        let raw = Int(Int32(bitPattern: UInt32(body[i]) | UInt32(body[i + 1]) << 8 | UInt32(body[i + 2]) << 16 | UInt32(body[i + 3]) << 24))
        ids.append(flags & 2 != 0 ? raw : ((raw % tokenizer.vocabularySize) + tokenizer.vocabularySize) % tokenizer.vocabularySize)
    }
    _ = tokenizer.decode(ids, skipSpecialTokens: flags & 1 != 0)
    _ = tokenizer.tokens(ids)
    for id in ids.prefix(64) { _ = (tokenizer.token(id), tokenizer.textBytes(of: id)) }
    return 0
}
