// The parser options, generated text and passage of one input: the layout the three parser targets share.
import DocRE
import FuzzSupport

public let fixedPassage = "Lark is a band from Paris , France . It formed in 2002 and released \"Ode\" , written by Ann Lee ."

public func parserInput(_ bytes: [UInt8]) -> (OutputParser, String, String?) {
    let flags = bytes.first ?? 0
    let parts = splitFiles(Array(bytes.dropFirst()), limit: 2)
    let options = ParserOptions(repairSpans: flags & 1 != 0, spanMatching: flags & 2 != 0 ? .fuzzy : .wordBoundary,
                                repairThreshold: flags & 4 != 0 ? 0.5 : 0.75, inverseCompletion: flags & 8 != 0,
                                dedupe: flags & 16 != 0)
    let text = String(decoding: parts[0], as: UTF8.self)
    let passage: String? = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : flags & 32 != 0 ? nil : fixedPassage
    return (OutputParser(catalogue: .standard, options: options), text, passage)
}
