// The paired bootstrap against the exact bootstrap distribution of a small case (every one of the n^n
// draws enumerated), and its edge cases; the AutoRE metric's per-document counts by hand.
import Testing
@testable import DocRE

@Suite struct PairedBootstrapTests {
    let a = [PRF(tp: 2, fp: 1, gold: 3), PRF(tp: 0, fp: 2, gold: 2), PRF(tp: 3, fp: 0, gold: 4), PRF(tp: 1, fp: 1, gold: 1)]
    let b = [PRF(tp: 1, fp: 1, gold: 3), PRF(tp: 1, fp: 0, gold: 2), PRF(tp: 2, fp: 2, gold: 4), PRF(tp: 0, fp: 0, gold: 1)]

    /// Every draw of 4 documents from 4 (4^4 = 256, equally likely): the exact bootstrap distribution.
    func exactDifferences() -> [Double] {
        var out: [Double] = []
        for code in 0..<256 {
            var sa = PRF(), sb = PRF(), c = code
            for _ in 0..<4 { sa = sa + a[c % 4]; sb = sb + b[c % 4]; c /= 4 }
            out.append(sa.f1 - sb.f1)
        }
        return out
    }

    @Test func matchesTheExactBootstrapDistribution() throws {
        let resamples = 20_000
        let r = try #require(PairedBootstrap(a, b, resamples: resamples, seed: 7))
        let exact = exactDifferences()
        func share(_ f: (Double) -> Bool) -> Double { Double(exact.filter(f).count) / Double(exact.count) }
        // the observed difference, by hand: A 6/10 P, 6/10 R → F1 0.6; B 4/7 P, 4/10 R → F1 8/17
        #expect(abs(r.difference - (0.6 - 2 * (4.0 / 7) * 0.4 / (4.0 / 7 + 0.4))) < 1e-12)
        // Monte Carlo estimates within 7σ of the exact probabilities
        let p = share { $0 <= 0 }
        #expect(p > 0.01 && p < 0.5)
        #expect(abs(r.pValue - p) <= 7 * (p * (1 - p) / Double(resamples)).squareRoot())
        let sigma = 7 * (0.025 * 0.975 / Double(resamples)).squareRoot()
        #expect(share { $0 < r.interval.lowerBound } <= 0.025 + sigma)
        #expect(share { $0 <= r.interval.lowerBound } >= 0.025 - sigma)
        #expect(share { $0 > r.interval.upperBound } <= 0.025 + sigma)
        #expect(share { $0 >= r.interval.upperBound } >= 0.025 - sigma)
        // the same seed gives the same answer; another seed a different draw
        #expect(PairedBootstrap(a, b, resamples: resamples, seed: 7) == r)
        #expect(PairedBootstrap(a, b, resamples: resamples, seed: 8)?.pValue != r.pValue)
    }

    @Test func oneSystemsF1IntervalMatchesTheExactDistribution() throws {
        let resamples = 20_000
        let r = try #require(PairedBootstrap.f1Interval(a, resamples: resamples, seed: 3))
        var exact: [Double] = []
        for code in 0..<256 {
            var s = PRF(), c = code
            for _ in 0..<4 { s = s + a[c % 4]; c /= 4 }
            exact.append(s.f1)
        }
        func share(_ f: (Double) -> Bool) -> Double { Double(exact.filter(f).count) / Double(exact.count) }
        let sigma = 7 * (0.025 * 0.975 / Double(resamples)).squareRoot()
        #expect(share { $0 < r.lowerBound } <= 0.025 + sigma && share { $0 <= r.lowerBound } >= 0.025 - sigma)
        #expect(share { $0 > r.upperBound } <= 0.025 + sigma && share { $0 >= r.upperBound } >= 0.025 - sigma)
        #expect(r.contains(0.6) && r.lowerBound < r.upperBound)   // F1 on the documents as they are: 0.6
        #expect(PairedBootstrap.f1Interval([]) == nil)
    }

    @Test func identicalAndDominatingSystems() throws {
        let same = try #require(PairedBootstrap(a, a, resamples: 500))
        #expect(same.difference == 0 && same.interval == 0...0 && same.pValue == 1)
        // one more true positive on every document and nothing else: better in every resample
        let better = a.map { PRF(tp: $0.tp + 1, fp: $0.fp, gold: $0.gold) }
        let r = try #require(PairedBootstrap(better, a, resamples: 500))
        #expect(r.pValue == 0 && r.interval.lowerBound > 0 && r.difference > 0)
        let reverse = try #require(PairedBootstrap(a, better, resamples: 500))
        #expect(reverse.pValue == 1 && reverse.interval.upperBound < 0)
    }

    @Test func refusesListsThatAreNotTheSameDocuments() {
        #expect(PairedBootstrap(a, Array(b.dropLast())) == nil)
        #expect(PairedBootstrap(a, b.map { PRF(tp: $0.tp, fp: $0.fp, gold: $0.gold + 1) }) == nil)
        #expect(PairedBootstrap([], []) == nil)
    }

    @Test func autoreMetricCountsEachDocument() {
        let ev = Evaluator(documents: Fixture.docs)
        let p = rec([["Curie", "place of birth", "Warsaw"], ["Paris", "capital", "France"]])
        let q = rec([["Danube", "located in or next to body of water", "Vienna"]], title: "Unlabelled fixture")
        let s = ev.autore([p, q])
        // documents in the evaluator's order: the Curie fixture (7 facts), the unlabelled one
        #expect(s.perDocument == [PRF(tp: 1, fp: 1, gold: 7), PRF(tp: 0, fp: 1, gold: 0)])
        #expect(s.total == PRF(tp: 1, fp: 2, gold: 7))
    }
}
