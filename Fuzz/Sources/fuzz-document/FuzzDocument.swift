// Fuzz target: a Re-DocRED split file (a JSON list of documents): decoding and validation, then what the
// pipeline reads from a valid document (passage, entities, mention spans, gold facts, every paradigm's
// training examples).
import DocRE
import Foundation
import FuzzSupport

let builders = Paradigm.allCases.map { try! ParadigmBuilder(paradigm: $0, catalogue: .standard) }

@_cdecl("fuzz_document_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt {
    _ = builders
    return runFuzzer(argc, argv, test)
}

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let docs = try? DocumentLoader.decode(Data(inputBytes(data, count)), file: "fuzz.json") else { return 0 }
    for doc in docs.prefix(4) {
        _ = (doc.passage, doc.wordCount)
        for e in doc.entities { precondition(!e.names.isEmpty || doc.vertexSet[e.index].isEmpty) }
        for cluster in doc.vertexSet { for m in cluster { _ = doc.spanText(m) } }
        _ = try? doc.facts(.standard)
        for b in builders { _ = try? b.examples(for: doc) }
    }
    return 0
}
