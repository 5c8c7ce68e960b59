// Fuzz target: the model-output parser of the relations stage. The first byte picks the parser options
// (this stage reads no passage); the rest is the generated text.
import DocRE
import FuzzSupport
import ParserFuzzing

@_cdecl("fuzz_parse_relations_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let (parser, text, _) = parserInput(inputBytes(data, count))
    let r = parser.parseRelations(text)
    precondition(r.report.lines >= 0)
    return 0
}
