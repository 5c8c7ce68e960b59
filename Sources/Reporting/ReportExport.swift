// The report's figures in the forms a paper takes them: every scored split as CSV (one row per experiment
// and split, every metric), the tables as LaTeX (booktabs), and the ablations as a figure (SVG: each run's
// AutoRE F1 with its bootstrap interval). Written beside the README by `autore report`; the numbers are
// the README's, from the same results folders.
import DocRE
import Experiments
import FineTuning
import Foundation
import RHF

extension Report {
    /// The files `write()` puts beside the README.
    public static let exports = ["results.csv", "results.tex", "ablations.svg", "unseen.svg", "propagation.svg"]

    // MARK: CSV

    /// The CSV's columns. Scores are percentages; an empty cell is a score the metrics file does not hold.
    static let csvColumns = [
        "experiment", "paradigm", "adapters", "descriptions", "prompt_order", "lora_rank", "lora_alpha", "lora_targets",
        "train", "split", "documents",
        "autore_precision", "autore_recall", "autore_f1", "autore_f1_low", "autore_f1_high",
        "strict_precision", "strict_recall", "strict_f1",
        "official_precision", "official_recall", "official_f1", "ign_f1",
        "relations_f1", "heads_f1", "facts_f1",
        "documents_per_minute", "tokens_per_second",
    ]

    /// Every scored split of every experiment, one row each (RFC 4180: comma-separated, fields quoted
    /// when they hold a comma, a quote or a line break).
    func csv(_ entries: [Entry]) -> String {
        func num(_ x: Double?, _ digits: Int = 4) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "" }
        func pct(_ x: Double?) -> String { num(x.map { 100 * $0 }) }
        var lines = [Self.csvColumns.joined(separator: ",")]
        for e in entries {
            let c = e.config
            let lora = c?.fineTuning == .lora ? c?.lora : nil   // no LoRA columns when every weight is trained
            for r in e.splits.sorted(by: { $0.split < $1.split }) {
                let a = r.autore.total
                let interval = e.intervals[r.split]
                let fields: [String] = [
                    e.name, c?.paradigm.rawValue ?? "", e.adapters, c == nil ? "" : e.descriptions, c?.promptOrder.rawValue ?? "",
                    lora.map { "\($0.rank)" } ?? "", lora.map { num(Double($0.alpha), 2) } ?? "", lora?.targets.joined(separator: " ") ?? "",
                    c?.data.train ?? "", r.split, "\(r.documents)",
                    pct(a.precision), pct(a.recall), pct(a.f1), pct(interval?.lowerBound), pct(interval?.upperBound),
                    pct(r.strict.total.precision), pct(r.strict.total.recall), pct(r.strict.total.f1),
                    pct(r.official.total.precision), pct(r.official.total.recall), pct(r.official.total.f1), pct(r.official.ignF1),
                    pct(r.stages.extra["relations"]?.f1), pct(r.stages.extra["heads"]?.f1), pct(r.stages.extra["facts"]?.f1),
                    num(r.extraction?.documentsPerMinute, 2), num(r.extraction?.tokensPerSecond, 1),
                ]
                lines.append(fields.map(Self.csvField).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    // MARK: LaTeX

    /// The published rows, our runs and each ablation table as LaTeX tables (`\usepackage{booktabs}`).
    func latex(_ contents: Contents) -> String {
        let x = Self.latexEscape
        func pct(_ v: Double?) -> String { x(ReportTable.pct(v)) }
        var s = "% Written by `autore report` from Experiments/results/; needs \\usepackage{booktabs}. F1 in %.\n\n"
        s += table(caption: "Published results on Re-DocRED (F1).", label: "tab:published", columns: "lrr",
                   header: ["System", "Dev", "Test"],
                   rows: contents.study.published.map { [x($0.system), String(format: "%.2f", $0.dev), String(format: "%.2f", $0.test)] })
        var rows: [[String]] = []
        for e in contents.entries {
            for r in e.splits.sorted(by: { $0.split < $1.split }) {
                let a = r.autore.total
                rows.append([x(e.name), x(e.config?.paradigm.rawValue ?? "?"), x(e.adapters), x(e.lora), x(r.split), "\(r.documents)",
                             pct(a.precision), pct(a.recall), pct(a.f1), x(e.interval(r)),
                             pct(r.official.total.f1), pct(r.official.ignF1)])
            }
        }
        s += table(caption: "\(contents.study.runsHeading): AutoRE scoring with its 95\\% bootstrap interval over documents, and the official entity-level F1 and Ign F1.",
                   label: "tab:runs", columns: "lllllrrrrrrr", wide: true,
                   header: ["Experiment", "Paradigm", "Adapters", "LoRA", "Split", "Docs", "P", "R", "F1", "95\\% interval", "Official F1", "Ign F1"], rows: rows)
        for (k, t) in contents.ablations.enumerated() {
            let rows = t.rows.enumerated().map { i, row -> [String] in
                let a = row.result.autore.total
                let gap = i == 0 ? "--" : String(format: "%+.2f", 100 * (t.best.result.autore.total.f1 - a.f1))
                return [x(row.entry.name), x(row.setting), pct(a.precision), pct(a.recall), i == 0 ? "\\textbf{\(pct(a.f1))}" : pct(a.f1),
                        gap, row.test.map(Self.interval) ?? "--", row.test.map { String(format: "%.3f", $0.pValue) } ?? "--"]
            }
            s += table(caption: "\(x(t.axis.title)): \(x(t.split)), \(t.documents) documents, AutoRE scoring. Gap: the best row's F1 minus this row's, with the 95\\% interval and one-sided $p$ of a paired bootstrap over the documents.",
                       label: "tab:ablation-\(k + 1)", columns: "llrrrrrr",
                       header: ["Experiment", x(t.axis.column), "P", "R", "F1", "Gap", "95\\% interval", "$p$"], rows: rows)
        }
        let seeds = contents.seeds
        if !seeds.isEmpty {
            func f(_ x: (mean: Double, std: Double, min: Double, max: Double)) -> String {
                String(format: "%.2f $\\pm$ %.2f", 100 * x.mean, 100 * x.std)
            }
            s += table(caption: "Runs of one config that differ only in the training seed: mean $\\pm$ sample standard deviation over the runs (F1 in \\%).",
                       label: "tab:seeds", columns: "llrrr",
                       header: ["Experiments", "Split", "Seeds", "AutoRE F1", "Official F1"],
                       rows: seeds.map { g in
                           [x(g.runs.map(\.entry.name).joined(separator: ", ")), x(g.split), g.runs.map { "\($0.seed)" }.joined(separator: ", "),
                            f(g.spread { $0.autore.total.f1 }), f(g.spread { $0.official.total.f1 })]
                       })
        }
        return s
    }

    /// One booktabs table; `wide` spans both columns of a two-column page (`table*`).
    func table(caption: String, label: String, columns: String, wide: Bool = false, header: [String], rows: [[String]]) -> String {
        let env = wide ? "table*" : "table"
        var s = "\\begin{\(env)}[t]\n\\centering\n\\small\n\\begin{tabular}{\(columns)}\n\\toprule\n"
        s += header.joined(separator: " & ") + " \\\\\n\\midrule\n"
        for r in rows { s += r.joined(separator: " & ") + " \\\\\n" }
        s += "\\bottomrule\n\\end{tabular}\n\\caption{\(caption)}\n\\label{\(label)}\n\\end{\(env)}\n\n"
        return s
    }

    /// Text as LaTeX source: the ten special characters escaped, the Greek letters tables use as math.
    static func latexEscape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\\": out += "\\textbackslash{}"
            case "&", "%", "$", "#", "_", "{", "}": out += "\\\(ch)"
            case "~": out += "\\textasciitilde{}"
            case "^": out += "\\textasciicircum{}"
            case "α": out += "$\\alpha$"
            case "×": out += "$\\times$"
            case "·": out += "$\\cdot$"
            case "–": out += "--"
            default: out.append(ch)
            }
        }
        return out
    }

    // MARK: Figure

    /// Every ablation table as a panel of rows: each run's AutoRE F1 (dot) and its 95% bootstrap interval
    /// over the documents (bar), on one axis in points; the best row of a panel is filled.
    func ablationFigure(_ tables: [AblationTable]) -> String {
        let rowHeight = 18.0, panelGap = 32.0, top = 40.0, bottom = 46.0
        let intervals = tables.map { t in t.rows.map { $0.entry.intervals[$0.result.split] } }
        let frame = FigureFrame(left: 330, right: 70, highest: max(tables.flatMap { $0.rows.map(\.result.autore.total.f1) }.max() ?? 0,
                                                                   intervals.joined().compactMap { $0?.upperBound }.max() ?? 0))
        let plotted = tables.reduce(0.0) { $0 + panelGap + Double($1.rows.count) * rowHeight }
        let height = top + plotted + bottom, width = frame.width, right = frame.right
        let px = frame.x, f = LossPlot.f, esc = LossPlot.escape
        var s = frame.header(title: "Ablations: AutoRE F1 with 95% bootstrap intervals over the documents", height: height)
        for i in 0...5 { s += frame.tickLabel(i, y: top + plotted + 16) }
        s += frame.axisLabel("AutoRE F1 (points)", height: height)
        var y = top
        for (t, ivs) in zip(tables, intervals) {
            y += panelGap
            let panel = rowHeight * Double(t.rows.count)
            s += "<text x=\"10\" y=\"\(f(y - 9))\" font-weight=\"bold\">\(esc("\(t.axis.title): \(t.split)"))</text>\n"
            for i in 1...4 { s += frame.gridLine(i, from: y, to: y + panel) }
            s += frame.box(y: y, height: panel)
            for (i, (row, iv)) in zip(t.rows, ivs).enumerated() {
                let cy = y + rowHeight * (Double(i) + 0.5), f1 = row.result.autore.total.f1
                s += "<text x=\"20\" y=\"\(f(cy + 4))\">\(esc("\(row.entry.name) · \(row.setting)"))</text>"
                if let iv {
                    s += "<line x1=\"\(f(px(iv.lowerBound)))\" y1=\"\(f(cy))\" x2=\"\(f(px(iv.upperBound)))\" y2=\"\(f(cy))\" stroke=\"#1f5fa8\" stroke-width=\"2\"/>"
                }
                s += "<circle cx=\"\(f(px(f1)))\" cy=\"\(f(cy))\" r=\"4\" stroke=\"#1f5fa8\" fill=\"\(i == 0 ? "#1f5fa8" : "white")\"/>"
                s += "<text x=\"\(f(width - right + 8))\" y=\"\(f(cy + 4))\">\(String(format: "%.2f", 100 * f1))</text>\n"
            }
            y += panel
        }
        return s + "</svg>\n"
    }
}
