// Fuzz target: the model-output parser of the heads stage. The first byte picks the parser options
// (span repair on or off, word-boundary or fuzzy matching, inverse completion, dedupe) and whether a
// passage is given; the rest is the generated text, and after a `--8<--` line, the passage (else a fixed one).
import DocRE
import FuzzSupport
import ParserFuzzing

@_cdecl("fuzz_parse_heads_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (parser, text, passage) = parserInput(inputBytes(data, count))
    let r = parser.parseHeads(text, passage: passage)
    precondition(r.report.lines >= 0)
    return 0
}
