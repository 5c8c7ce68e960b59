// The frame the report's figures share: a white page with a bold title, one horizontal axis in points from 0
// to a round maximum, its six tick labels, faint grid lines and the axis label. The figures (ablations,
// unseen relations, error propagation) draw their rows inside it.
import FineTuning

struct FigureFrame {
    let width = 860.0
    var left: Double
    var right: Double
    /// The axis's right end in points (1, 2, 2.5, 4, 5, 6 or 8 times a power of ten).
    let xMax: Double

    /// A frame whose axis reaches `highest` (a score in [0, 1]).
    init(left: Double, right: Double, highest: Double) {
        self.left = left; self.right = right
        xMax = LossPlot.niceCeiling(max(1e-3, highest) * 100)
    }

    var plotWidth: Double { width - left - right }
    /// The horizontal position of a score in [0, 1].
    func x(_ v: Double) -> Double { left + plotWidth * 100 * v / xMax }
    /// The horizontal position of tick i of 0...5.
    func tickX(_ i: Int) -> Double { left + plotWidth * Double(i) / 5 }

    /// The opening tag, the white page and the title.
    func header(title: String, height: Double) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="10" y="22" font-size="14" font-weight="bold">\(LossPlot.escape(title))</text>

        """
    }

    /// The tick label i of 0...5 at height y.
    func tickLabel(_ i: Int, y: Double) -> String {
        "<text x=\"\(LossPlot.f(tickX(i)))\" y=\"\(LossPlot.f(y))\" text-anchor=\"middle\">\(String(format: "%g", xMax * Double(i) / 5))</text>\n"
    }

    /// The inner grid line at tick i of 1...4, from y0 to y1.
    func gridLine(_ i: Int, from y0: Double, to y1: Double) -> String {
        let f = LossPlot.f, xx = tickX(i)
        return "<line x1=\"\(f(xx))\" y1=\"\(f(y0))\" x2=\"\(f(xx))\" y2=\"\(f(y1))\" stroke=\"#eee\"/>"
    }

    /// Grid lines over the whole plot (top to bottom), each followed by its tick label below it.
    func gridAndTicks(top: Double, bottom: Double) -> String {
        (0...5).map { i in (i > 0 && i < 5 ? gridLine(i, from: top, to: bottom) : "") + tickLabel(i, y: bottom + 16) }.joined()
    }

    /// The axis label, centred under the plot.
    func axisLabel(_ text: String, height: Double) -> String {
        "<text x=\"\(LossPlot.f(left + plotWidth / 2))\" y=\"\(LossPlot.f(height - 10))\" text-anchor=\"middle\">\(LossPlot.escape(text))</text>\n"
    }

    /// The plot's frame from y to y + h.
    func box(y: Double, height h: Double) -> String {
        let f = LossPlot.f
        return "<rect x=\"\(f(left))\" y=\"\(f(y))\" width=\"\(f(plotWidth))\" height=\"\(f(h))\" fill=\"none\" stroke=\"#444\"/>\n"
    }
}
