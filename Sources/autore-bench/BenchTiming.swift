// Timing for the `autore-bench` commands: medians of repeats after warm-up, and interleaved pairs so
// that load from other processes hits both sides of a ratio alike.
import Foundation

struct Stopwatch {
    var repeats: Int
    var warmups = 2

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    /// Median seconds of `repeats` runs after the warm-ups.
    func time(_ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<warmups { try body() }
        var ts: [Double] = []
        for _ in 0..<max(1, repeats) { ts.append(try Self.seconds(body)) }
        return ts.sorted()[ts.count / 2]
    }

    /// Medians of `a` and `b` timed alternately.
    func timePair(_ a: () throws -> Void, _ b: () throws -> Void) rethrows -> (Double, Double) {
        for _ in 0..<warmups { try a(); try b() }
        var ta: [Double] = [], tb: [Double] = []
        for _ in 0..<max(1, repeats) {
            ta.append(try Self.seconds(a))
            tb.append(try Self.seconds(b))
        }
        return (ta.sorted()[ta.count / 2], tb.sorted()[tb.count / 2])
    }
}
