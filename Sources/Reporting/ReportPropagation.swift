// The report's error-propagation part: for runs scored with `autore eval --stages oracle`, the AutoRE F1 of
// the pipeline with gold answers fed into its stages in turn, as a table with paired gains and as a waterfall
// (`propagation.svg`): fully predicted F1, what gold relations, then gold subjects, then gold facts add, and
// the ceiling of every stage gold.
import DocRE
import Experiments
import FineTuning
import Foundation

extension Report {
    /// One error-propagation run (`oracle_<split>.json`, written by `autore eval --stages oracle`): each row's
    /// AutoRE F1 with its bootstrap interval, and the paired bootstrap of its gain over the fully predicted row.
    struct PropagationTable {
        var folder: String
        var result: ErrorPropagationResult
        var intervals: [GoldFeed: ClosedRange<Double>]
        var gains: [GoldFeed: PairedBootstrap]
    }

    func propagationTables(excluding excluded: Set<String>) throws -> [PropagationTable] {
        let fm = FileManager.default
        var out: [PropagationTable] = []
        for n in ((try? fm.contentsOfDirectory(atPath: results.path)) ?? []).sorted() where !excluded.contains(n) {
            let dir = results.appendingPathComponent(n)
            for f in ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() where f.hasPrefix("oracle_") && f.hasSuffix(".json") {
                let r = try ErrorPropagationResult.read(dir.appendingPathComponent(f).path)
                var intervals: [GoldFeed: ClosedRange<Double>] = [:], gains: [GoldFeed: PairedBootstrap] = [:]
                let base = r.row(.none)?.autore.perDocument
                for row in r.rows {
                    guard let pd = row.autore.perDocument else { continue }
                    intervals[row.feed] = PairedBootstrap.f1Interval(pd)
                    if row.feed != .none, let base { gains[row.feed] = PairedBootstrap(pd, base) }
                }
                out.append(PropagationTable(folder: n, result: r, intervals: intervals, gains: gains))
            }
        }
        return out
    }

    func propagationSection(_ tables: [PropagationTable]) -> String {
        guard !tables.isEmpty else { return "" }
        let pct = ReportTable.pct
        func points(_ x: Double) -> String { String(format: "%+.2f", 100 * x) }
        var s = "## Error propagation: gold answers fed into later stages (AutoRE scoring)\n\n"
        s += "Each row runs the same adapters and decoding with the answers of some stages replaced by the gold answers (written by `autore eval --stages oracle`): the heads and facts questions then follow the gold relations, the facts questions the gold (relation, subject) pairs. A row's gain over the fully predicted row is what the stages it feeds lose downstream; the last row, every stage gold, is the pipeline's own ceiling (below 100 only where a document has more relations or subjects than extraction.max_relations and max_heads keep). Intervals: 95% bootstrap over the documents (\(PairedBootstrap.defaultResamples) resamples, seed 0), for a gain the paired bootstrap against the fully predicted row. Answers already generated for the same question are reused, not generated again. Figure: [propagation.svg](propagation.svg), one waterfall per run.\n\n"
        for t in tables {
            let r = t.result
            s += "### \(r.experiment) on \(r.split) (\(r.documents) documents): [\(t.folder)](\(t.folder)/)\n\n"
            s += "| gold answers fed into | AutoRE P | R | F1 | F1 95% interval | gain over fully predicted | 95% interval | p | questions the model answered | answers given |\n|---|---|---|---|---|---|---|---|---|---|\n"
            let base = r.row(.none)?.autore.total.f1
            for row in r.rows {
                let a = row.autore.total
                let interval = t.intervals[row.feed].map { String(format: "%.2f–%.2f", 100 * $0.lowerBound, 100 * $0.upperBound) } ?? "–"
                var gain = "– | – | –"
                if row.feed != .none, let base {
                    gain = "\(points(a.f1 - base)) | " + (t.gains[row.feed].map { "\(Self.interval($0)) | \(String(format: "%.3f", $0.pValue))" } ?? "– | –")
                }
                let asked = (row.extraction.questionsByStage ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                s += "| \(row.feed.label) | \(pct(a.precision)) | \(pct(a.recall)) | **\(pct(a.f1))** | \(interval) | \(gain) | \(asked.isEmpty ? "0" : asked) | \(row.extraction.suppliedAnswers ?? 0) |\n"
            }
            if let p = r.row(.none)?.autore.total.f1, let g1 = r.row(.relations)?.autore.total.f1, let g2 = r.row(.relationsAndHeads)?.autore.total.f1 {
                let ceiling = r.row(.allStages)?.autore.total.f1 ?? 1
                s += "\nWith gold relations, AutoRE F1 moves by \(points(g1 - p)) points (what the relations stage loses downstream); with gold subjects as well, by \(points(g2 - g1)) more (the heads stage's loss); \(String(format: "%.2f", 100 * (ceiling - g2))) points stay below the pipeline's ceiling (\(pct(ceiling)), every stage gold) with only the facts stage predicted.\n"
            }
            for n in r.notes { s += "\n- \(n)" }
            if let c = r.command { s += "\n- command: `\(c)`" }
            s += "\n\n"
        }
        return s
    }

    /// The waterfall of every propagation table, one panel each; nil without tables.
    func propagationFigure(_ tables: [PropagationTable]) -> String? {
        guard !tables.isEmpty else { return nil }
        let panels: [WaterfallFigure.Panel] = tables.compactMap { t in
            let r = t.result
            guard let predicted = r.row(.none) else { return nil }
            var steps = [WaterfallFigure.Step(label: "fully predicted", from: 0, to: predicted.autore.total.f1,
                                              interval: t.intervals[.none], total: true)]
            var level = predicted.autore.total.f1
            for (feed, label) in [(GoldFeed.relations, "+ gold relations"), (.relationsAndHeads, "+ gold subjects"), (.allStages, "+ gold facts")] {
                guard let row = r.row(feed) else { continue }
                steps.append(.init(label: label, from: level, to: row.autore.total.f1, interval: t.intervals[feed], total: false))
                level = row.autore.total.f1
            }
            if let all = r.row(.allStages) {
                steps.append(.init(label: "every stage gold", from: 0, to: all.autore.total.f1, interval: nil, total: true))
            }
            return WaterfallFigure.Panel(title: "\(r.experiment) on \(r.split) (\(r.documents) documents)", steps: steps)
        }
        guard !panels.isEmpty else { return nil }
        return WaterfallFigure(title: "Error propagation: AutoRE F1 as gold answers replace each stage's in turn",
                               axis: "AutoRE F1 (points); whiskers: the row's 95% bootstrap interval", panels: panels).svg()
    }
}

/// A horizontal waterfall chart: per panel, bars that start at zero (totals) or at the previous bar's end
/// (steps, green when they add and red when they take away), each labelled with its value (a total) or its
/// change (a step), with an optional interval whisker at the bar's end; values in [0, 1] drawn in points.
struct WaterfallFigure {
    struct Step { var label: String; var from: Double; var to: Double; var interval: ClosedRange<Double>?; var total: Bool }
    struct Panel { var title: String; var steps: [Step] }
    var title: String
    var axis: String
    var panels: [Panel]

    static let totalFill = "#1f5fa8", gainFill = "#3a9a5b", lossFill = "#c0392b"

    func svg() -> String {
        let rowHeight = 22.0, panelHead = 22.0, top = 40.0, bottom = 46.0
        let frame = FigureFrame(left: 200, right: 70, highest: panels.flatMap { $0.steps.flatMap { [$0.from, $0.to, $0.interval?.upperBound ?? 0] } }.max() ?? 0)
        let body = panels.reduce(0.0) { $0 + panelHead + rowHeight * Double($1.steps.count) }
        let height = top + body + bottom
        let px = frame.x, f = LossPlot.f, esc = LossPlot.escape
        var s = frame.header(title: title, height: height)
        s += frame.gridAndTicks(top: top, bottom: top + body)
        s += frame.axisLabel(axis, height: height)
        var y = top
        for panel in panels {
            s += "<text x=\"10\" y=\"\(f(y + 15))\" font-weight=\"bold\">\(esc(panel.title))</text>\n"
            y += panelHead
            for (k, step) in panel.steps.enumerated() {
                let (x0, x1) = (px(min(step.from, step.to)), px(max(step.from, step.to)))
                let fill = step.total ? Self.totalFill : (step.to >= step.from ? Self.gainFill : Self.lossFill)
                let value = step.total ? String(format: "%.2f", 100 * step.to) : String(format: "%+.2f", 100 * (step.to - step.from))
                s += "<text x=\"10\" y=\"\(f(y + 15))\">\(esc(step.label))</text>"
                s += "<rect x=\"\(f(x0))\" y=\"\(f(y + 4))\" width=\"\(f(x1 - x0))\" height=\"14\" fill=\"\(fill)\"/>"
                if let iv = step.interval {
                    s += "<line x1=\"\(f(px(iv.lowerBound)))\" y1=\"\(f(y + 11))\" x2=\"\(f(px(iv.upperBound)))\" y2=\"\(f(y + 11))\" stroke=\"#222\" stroke-width=\"1.5\"/>"
                }
                s += "<text x=\"\(f(max(x1, px(step.interval?.upperBound ?? 0)) + 6))\" y=\"\(f(y + 15))\">\(value)</text>"
                // a dashed connector from this bar's end to the next step's start
                if k + 1 < panel.steps.count, !panel.steps[k + 1].total {
                    s += "<line x1=\"\(f(px(step.to)))\" y1=\"\(f(y + 18))\" x2=\"\(f(px(step.to)))\" y2=\"\(f(y + rowHeight + 4))\" stroke=\"#999\" stroke-dasharray=\"2,2\"/>"
                }
                s += "\n"
                y += rowHeight
            }
        }
        s += frame.box(y: top, height: body)
        return s + "</svg>\n"
    }
}
