// Loss curves as SVG: a run's training loss (raw and smoothed), held-out loss and stage F1 against the
// optimizer step, drawn from metrics.jsonl (drawn during training, so it lives beside the log; the report
// reuses its SVG helpers). A small fixed layout, not a plotting library.
import Foundation
import Support

public enum LossPlot {
    /// One line series: points (x, y) with a colour and a legend label.
    public struct Series {
        public var label: String
        public var colour: String
        public var points: [(Double, Double)]
        public var dashed = false
        public var rightAxis = false
    }

    /// Reads `metrics` and writes the chart to `path` (atomically).
    public static func write(metrics: String, to path: String, title: String) throws {
        let records = try MetricsLog.read(MetricsRecord.self, from: metrics)
        try AtomicFile.write(svg(records: records, title: title), to: path)
    }

    public static func svg(records: [MetricsRecord], title: String) -> String {
        let train = records.filter { $0.kind == .train && $0.loss.isFinite }.map { (Double($0.step), Double($0.loss)) }
        var smooth: [(Double, Double)] = [], ema: Double?
        for (x, y) in train { ema = ema.map { 0.95 * $0 + 0.05 * y } ?? y; smooth.append((x, ema!)) }
        let evals = records.filter { $0.kind == .eval }
        var series = [
            Series(label: "train loss", colour: "#c6d4e8", points: train),
            Series(label: "train loss (EMA 0.95)", colour: "#1f5fa8", points: smooth),
            Series(label: "held-out loss", colour: "#d9480f", points: evals.filter { $0.loss.isFinite }.map { (Double($0.step), Double($0.loss)) }),
        ]
        let f1 = evals.compactMap { e in e.f1.map { (Double(e.step), $0) } }
        if !f1.isEmpty { series.append(Series(label: "stage F1 (right axis)", colour: "#2b8a3e", points: f1, dashed: true, rightAxis: true)) }
        return chart(series: series, title: title, xLabel: "optimizer step", yLabel: "loss (nats / answer token)")
    }

    /// A line chart of `series` (left axis from 0 to the largest value, right axis 0…1).
    public static func chart(series: [Series], title: String, xLabel: String, yLabel: String) -> String {
        let w = 720.0, h = 420.0, left = 70.0, right = 60.0, top = 40.0, bottom = 50.0
        let pw = w - left - right, ph = h - top - bottom
        let all = series.filter { !$0.rightAxis }.flatMap(\.points)
        let xMax = max(1, series.flatMap(\.points).map(\.0).max() ?? 1)
        let yMax = niceCeiling(max(1e-6, all.map(\.1).max() ?? 1))
        func px(_ x: Double) -> Double { left + pw * x / xMax }
        func py(_ y: Double, _ r: Bool) -> Double { top + ph * (1 - y / (r ? 1 : yMax)) }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="22" font-size="14" font-weight="bold">\(escape(title))</text>

        """
        for i in 0...5 {
            let y = yMax * Double(i) / 5, yy = py(y, false)
            s += "<line x1=\"\(left)\" y1=\"\(f(yy))\" x2=\"\(left + pw)\" y2=\"\(f(yy))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(String(format: "%.2f", y))</text>\n"
            if series.contains(where: \.rightAxis) {
                s += "<text x=\"\(left + pw + 6)\" y=\"\(f(yy + 4))\">\(String(format: "%.1f", Double(i) / 5))</text>\n"
            }
            let x = xMax * Double(i) / 5
            s += "<text x=\"\(f(px(x)))\" y=\"\(f(top + ph + 18))\" text-anchor=\"middle\">\(Int(x.rounded()))</text>\n"
        }
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(h - 10))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s += "<text transform=\"translate(16 \(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for (k, se) in series.enumerated() where !se.points.isEmpty {
            let pts = se.points.map { "\(f(px($0.0))),\(f(py($0.1, se.rightAxis)))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(se.colour)\" stroke-width=\"1.6\"\(se.dashed ? " stroke-dasharray=\"5 3\"" : "") points=\"\(pts)\"/>\n"
            if se.points.count < 40 {
                for p in se.points { s += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1, se.rightAxis)))\" r=\"2.5\" fill=\"\(se.colour)\"/>" }
                s += "\n"
            }
            let ly = top + 14 + Double(k) * 16
            s += "<line x1=\"\(f(left + pw - 190))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + pw - 170))\" y2=\"\(f(ly - 4))\" stroke=\"\(se.colour)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(f(left + pw - 165))\" y=\"\(f(ly))\">\(escape(se.label))</text>\n"
        }
        return s + "</svg>\n"
    }

    public static func f(_ x: Double) -> String { String(format: "%.1f", x) }
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
    /// 1, 2 or 5 times a power of ten, at least `x`.
    public static func niceCeiling(_ x: Double) -> Double {
        let p = Foundation.pow(10, Foundation.floor(Foundation.log10(x)))
        for m in [1.0, 2, 2.5, 4, 5, 6, 8, 10] where m * p >= x * 0.999 { return m * p }
        return 10 * p
    }
}
