// Paired bootstrap over documents: how far the F1 difference of two systems scored on the same documents
// would move if the documents were drawn again. Not a test across training seeds or across relations.
import Support

/// The paired bootstrap test of a difference in micro F1 (Efron & Tibshirani 1993, ch. 16; Koehn 2004
/// for its use on NLP test sets): each resample draws n of the n documents with replacement, the same
/// draw for both systems, and recomputes both micro F1s from the drawn documents' summed counts.
///
///     guard let b = PairedBootstrap(a.autore.perDocument!, b.autore.perDocument!) else { … }   // nil: not the same documents
///     b.difference    // F1(A) − F1(B) on the documents as they are
///     b.interval      // its 95% percentile interval over the resamples
///     b.pValue        // share of resamples where A does not beat B (one-sided)
public struct PairedBootstrap: Sendable, Equatable {
    public var documents: Int
    public var resamples: Int
    /// F1(A) − F1(B), in [−1, 1].
    public var difference: Double
    /// The central `level` percentile interval of the resampled differences.
    public var interval: ClosedRange<Double>
    /// The share of resamples in which F1(A) − F1(B) ≤ 0: small when A's lead is not an accident of
    /// which documents were drawn.
    public var pValue: Double

    /// Enough resamples for the p-value's Monte Carlo error to stay below 0.005 (σ ≤ 0.5/√10000).
    public static let defaultResamples = 10_000

    /// Compares A with B document by document. Nil when the two lists cannot be the same documents
    /// (different lengths, a document with a different gold count, or no document).
    public init?(_ a: [PRF], _ b: [PRF], resamples: Int = defaultResamples, level: Double = 0.95, seed: UInt64 = 0) {
        guard !a.isEmpty, a.count == b.count, zip(a, b).allSatisfy({ $0.gold == $1.gold }), resamples > 0,
              level > 0, level < 1 else { return nil }
        let n = a.count
        documents = n
        self.resamples = resamples
        difference = a.reduce(PRF(), +).f1 - b.reduce(PRF(), +).f1
        var g = SplitMix64(seed: seed)
        var differences = [Double](repeating: 0, count: resamples)
        var notBetter = 0
        for r in 0..<resamples {
            var sa = PRF(), sb = PRF()
            for _ in 0..<n {
                let i = Int.random(in: 0..<n, using: &g)
                sa = sa + a[i]; sb = sb + b[i]
            }
            differences[r] = sa.f1 - sb.f1
            if differences[r] <= 0 { notBetter += 1 }
        }
        differences.sort()
        let tail = (1 - level) / 2
        let lo = Int((tail * Double(resamples)).rounded(.down))
        let hi = max(lo, Int(((1 - tail) * Double(resamples)).rounded(.up)) - 1)
        interval = differences[min(lo, resamples - 1)]...differences[min(hi, resamples - 1)]
        pValue = Double(notBetter) / Double(resamples)
    }

    /// The percentile interval of one system's micro F1 over resampled documents: the paired test against
    /// a system that finds nothing (whose F1 is 0 in every resample). Nil for no documents.
    public static func f1Interval(_ a: [PRF], resamples: Int = defaultResamples, level: Double = 0.95,
                                  seed: UInt64 = 0) -> ClosedRange<Double>? {
        PairedBootstrap(a, a.map { PRF(tp: 0, fp: 0, gold: $0.gold) }, resamples: resamples, level: level, seed: seed)?.interval
    }
}
