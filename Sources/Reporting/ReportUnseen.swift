// The report's unseen-relations part: for runs trained with `data.held_out_relations`, F1 on the relations
// training saw against F1 on those it never saw, by description set, as a table and a figure.
import DocRE
import Experiments
import FineTuning
import Foundation
import RHF

extension Report {
    /// Runs (and their scored splits) that held relations out of training.
    func unseenRows(_ entries: [Entry]) -> [(entry: Entry, result: SplitResult, scores: UnseenRelationScores)] {
        entries.flatMap { e in e.splits.sorted(by: { $0.split < $1.split }).compactMap { r in r.unseen.map { (e, r, $0) } } }
    }

    func unseenSection(_ entries: [Entry], propagation: [PropagationTable] = []) -> String {
        let rows = unseenRows(entries)
        guard !rows.isEmpty else { return "" }
        let pct = ReportTable.pct
        func iv(_ x: ClosedRange<Double>?) -> String { x.map { String(format: "%.2f–%.2f", 100 * $0.lowerBound, 100 * $0.upperBound) } ?? "–" }
        var s = "## Unseen relations (AutoRE scoring)\n\n"
        s += "Each run below trained without any example of its held-out relations (removed from every relation list, no subject or fact question about them); decoding may still name them (constrained decoding spells any of the 96 catalogue names). F1 on the seen relations and on the held-out ones, each with its 95% bootstrap interval over the documents; \"documents naming one\": of the documents whose gold facts include a held-out relation, how many got at least one triple or relations answer naming one. Figure: [unseen.svg](unseen.svg).\n\n"
        s += "| experiment | descriptions | split | held-out relations | seen F1 | 95% interval | unseen P | R | F1 | 95% interval | documents naming one | unseen triples predicted |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for (e, r, u) in rows {
            s += "| \(e.name) | \(e.descriptions) | \(r.split) | \(u.heldOut.joined(separator: ", ")) | \(pct(u.seen.f1)) | \(iv(u.seenInterval))"
            s += " | \(pct(u.unseen.precision)) | \(pct(u.unseen.recall)) | **\(pct(u.unseen.f1))** | \(iv(u.unseenInterval))"
            s += " | \(u.documentsProducingUnseen) of \(u.documentsWithUnseen) | \(u.unseenTriplesPredicted) |\n"
        }
        s += "\n"
        // The relations stage of a run never names a relation it was trained never to list, so the question
        // of the descriptions is asked with gold relations fed (`autore eval --stages oracle`): given the
        // held-out relation, with its description where the run has them, do the heads and facts stages find
        // its facts?
        let fed = propagation.filter { $0.result.rows.contains { $0.unseen != nil } }
        guard !fed.isEmpty else { return s }
        let descriptions = Dictionary(entries.map { ($0.name, $0.descriptions) }, uniquingKeysWith: { a, _ in a })
        s += "### With gold relations fed (`autore eval --stages oracle`)\n\n"
        s += "The same runs' later stages asked about the gold relations of each document, held-out ones included (their questions carry the run's descriptions): F1 on the held-out relations when the relations stage is given (gold relations) and when the subjects are given too (gold relations and subjects), beside the seen relations' F1 under the same feed. 95% bootstrap intervals over the documents.\n\n"
        s += "| experiment | descriptions | split | gold answers fed | seen F1 | unseen P | R | F1 | 95% interval | unseen triples predicted |\n|---|---|---|---|---|---|---|---|---|---|\n"
        for t in fed {
            for row in t.result.rows where row.feed != .allStages {
                guard let u = row.unseen else { continue }
                s += "| [\(t.folder)](\(t.folder)/) | \(descriptions[t.result.experiment] ?? "?") | \(t.result.split) | \(row.feed.label) | \(pct(u.seen.f1))"
                s += " | \(pct(u.unseen.precision)) | \(pct(u.unseen.recall)) | **\(pct(u.unseen.f1))** | \(iv(u.unseenInterval)) | \(u.unseenTriplesPredicted) |\n"
            }
        }
        return s + "\n"
    }

    /// Seen (filled) and unseen (open) F1 of each run with its interval, one row per run and split.
    func unseenFigure(_ entries: [Entry]) -> String? {
        let rows = unseenRows(entries)
        guard !rows.isEmpty else { return nil }
        return IntervalFigure(title: "F1 on seen (filled) and held-out (open) relations, 95% bootstrap intervals",
                              axis: "AutoRE F1 (points)",
                              rows: rows.map { (e, r, u) in
                                  IntervalFigure.Row(label: "\(e.name) · \(e.descriptions) · \(r.split)", marks: [
                                      .init(value: u.seen.f1, interval: u.seenInterval, filled: true),
                                      .init(value: u.unseen.f1, interval: u.unseenInterval, filled: false),
                                  ])
                              }).svg()
    }
}

/// A dot-and-interval chart: one row per label, each row one or more marks (a value in [0, 1] drawn in
/// points, with an optional interval bar), on one shared axis.
struct IntervalFigure {
    struct Mark { var value: Double; var interval: ClosedRange<Double>?; var filled: Bool }
    struct Row { var label: String; var marks: [Mark] }
    var title: String
    var axis: String
    var rows: [Row]

    func svg() -> String {
        let rowHeight = 20.0, top = 44.0, bottom = 46.0
        let frame = FigureFrame(left: 360, right: 30, highest: rows.flatMap { $0.marks.flatMap { [$0.value, $0.interval?.upperBound ?? 0] } }.max() ?? 0)
        let panel = rowHeight * Double(rows.count), height = top + panel + bottom
        let px = frame.x, f = LossPlot.f, esc = LossPlot.escape
        var s = frame.header(title: title, height: height)
        s += frame.gridAndTicks(top: top, bottom: top + panel)
        s += frame.box(y: top, height: panel)
        s += frame.axisLabel(axis, height: height)
        for (i, row) in rows.enumerated() {
            let cy = top + rowHeight * (Double(i) + 0.5)
            s += "<text x=\"10\" y=\"\(f(cy + 4))\">\(esc(row.label))</text>"
            for (k, m) in row.marks.enumerated() {
                let y = cy + (Double(k) - Double(row.marks.count - 1) / 2) * 5
                if let iv = m.interval {
                    s += "<line x1=\"\(f(px(iv.lowerBound)))\" y1=\"\(f(y))\" x2=\"\(f(px(iv.upperBound)))\" y2=\"\(f(y))\" stroke=\"#1f5fa8\" stroke-width=\"2\"/>"
                }
                s += "<circle cx=\"\(f(px(m.value)))\" cy=\"\(f(y))\" r=\"4\" stroke=\"#1f5fa8\" fill=\"\(m.filled ? "#1f5fa8" : "white")\"/>"
            }
            s += "\n"
        }
        return s + "</svg>\n"
    }
}
