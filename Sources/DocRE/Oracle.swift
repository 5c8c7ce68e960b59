// The oracle: every stage answered with the gold answer exactly as the builder writes it, then parsed
// like model output. It checks that builder, parser and evaluators agree (F1 = 100 under `autore`
// and `stages`) and measures the ceiling of the official entity-level metric.
import Foundation

public struct Oracle: Sendable {
    public let builder: ParadigmBuilder
    public let parser: OutputParser
    public init(builder: ParadigmBuilder, parser: OutputParser) { self.builder = builder; self.parser = parser }

    /// One prediction line per document, built from parsed gold answers. With `cascade`, questions
    /// follow the *parsed* earlier answers (as an extractor would); they equal the gold ones here.
    public func prediction(for doc: Document) throws -> (record: PredictionRecord, report: ParseReport) {
        let gold = try GoldView(doc, catalogue: builder.catalogue)
        let passage = doc.passage
        var relations: [String]? = builder.paradigm.stages.contains(.relations) ? [] : nil
        var heads: [String: [String]]? = builder.paradigm.stages.contains(.heads) ? [:] : nil
        var triples: [Triple] = [], unparsed: [String] = [], report = ParseReport()
        var raw: [String: JSONValue] = [:]
        for (q, lines) in builder.goldQueries(gold) {
            let text = lines.joined(separator: "\n")
            let key = [q.stage.rawValue, q.relation, q.head].compactMap { $0 }.joined(separator: " | ")
            raw[key] = .string(text)
            switch q.stage {
            case .relations:
                let p = parser.parseRelations(text)
                relations = p.items; unparsed += p.unparsed; report = report + p.report
            case .heads:
                let p = parser.parseHeads(text, passage: passage)
                heads?[q.relation!] = p.items; unparsed += p.unparsed; report = report + p.report
            case .facts:
                let p = parser.parseTriples(text, passage: passage)
                triples += p.triples
                unparsed += p.unparsed; report = report + p.report
            }
        }
        let rec = PredictionRecord(title: doc.title, relations: relations, heads: heads, triples: triples,
                                   raw: .object(raw), unparsed: unparsed)
        return (rec, report)
    }

    public func predictions(for docs: [Document]) throws -> (records: [PredictionRecord], report: ParseReport) {
        var out: [PredictionRecord] = [], rep = ParseReport()
        for d in docs { let (r, p) = try prediction(for: d); out.append(r); rep = rep + p }
        return (out, rep)
    }
}
