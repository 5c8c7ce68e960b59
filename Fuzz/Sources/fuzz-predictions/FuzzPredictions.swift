// Fuzz target: a predictions file (JSON Lines, as `autore eval --predictions` reads it), then every metric
// over it against two fixed documents (AutoRE, strict, stages, official with both linkings, error analysis).
import DocRE
import Foundation
import FuzzSupport

let scratch = Scratch("predictions")
/// Two small documents in the Re-DocRED form: the titles the seed predictions name.
let documentsJSON = """
    [{"title": "Lark", "sents": [["Lark", "is", "a", "band", "from", "Paris", ",", "France", "."], ["It", "formed", "in", "2002", "."]],
      "vertexSet": [[{"name": "Lark", "sent_id": 0, "pos": [0, 1], "type": "ORG"}], [{"name": "Paris", "sent_id": 0, "pos": [5, 6], "type": "LOC"}],
                    [{"name": "France", "sent_id": 0, "pos": [7, 8], "type": "LOC"}], [{"name": "2002", "sent_id": 1, "pos": [3, 4], "type": "TIME"}]],
      "labels": [{"h": 1, "t": 2, "r": "P17", "evidence": [0]}, {"h": 0, "t": 3, "r": "P571", "evidence": [1]}, {"h": 0, "t": 2, "r": "P495", "evidence": [0]}]},
     {"title": "Ode", "sents": [["Ode", "was", "written", "by", "Ann", "Lee", "."]],
      "vertexSet": [[{"name": "Ode", "sent_id": 0, "pos": [0, 1], "type": "MISC"}], [{"name": "Ann Lee", "sent_id": 0, "pos": [4, 6], "type": "PER"}]],
      "labels": [{"h": 0, "t": 1, "r": "P50", "evidence": [0]}]}]
    """
let documents = try! DocumentLoader.decode(Data(documentsJSON.utf8), file: "documents.json")
let evaluator = Evaluator(documents: documents, catalogue: .standard)

@_cdecl("fuzz_predictions_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt {
    _ = evaluator
    return runFuzzer(argc, argv, test)
}

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = scratch.write(inputBytes(data, count), to: "predictions.jsonl")
    guard let preds = try? PredictionRecord.load(URL(fileURLWithPath: path)) else { return 0 }
    for p in preds { _ = (p.tripleValues, p.malformedRows, p.effectiveRelations, p.effectiveHeads) }
    _ = evaluator.autore(preds)
    _ = evaluator.autore(preds, strict: true)
    _ = evaluator.stages(preds)
    _ = evaluator.official(preds, trainFacts: [], linking: .all)
    _ = evaluator.official(preds, trainFacts: [], linking: .first)
    _ = ErrorAnalysis(documents: documents, predictions: preds, catalogue: .standard)
    return 0
}
