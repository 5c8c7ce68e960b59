// A step with a non-finite loss or gradient norm changes nothing but the data position, is counted, and too
// many in a row stop training; loss spikes are flagged against the running median.
import Autograd
import Foundation
import LanguageModels
import NeuralNet
import Testing
@testable import FineTuning

@Suite struct NumericalFaultTests {
    func trainer(maxBadSteps: Int = 5, fault: @escaping (Int) -> InjectedFault?) throws -> Trainer {
        let base = TrainerTests()
        let t = try Trainer(model: try base.freshModel(), adapter: "facts", groups: base.groups,
                            options: TrainingOptions(steps: 20, accumulation: 2, learningRate: 3e-2, warmupSteps: 2, seed: 7,
                                                     maxBadSteps: maxBadSteps))
        t.injectFault = fault
        return t
    }

    /// Adapter values and AdamW moments, as bit patterns (a NaN written anywhere would show).
    func snapshot(_ t: Trainer) -> [String: [UInt32]] {
        var out: [String: [UInt32]] = [:]
        for (k, p) in t.parameters { out["w:" + k] = p.value.scalars.map(\.bitPattern) }
        for (k, s) in t.optimizer.states {
            out["m:" + k] = s.m.map(\.bitPattern); out["v:" + k] = s.v.map(\.bitPattern); out["n:" + k] = [UInt32(s.step)]
        }
        return out
    }

    func skipsWithoutChange(_ fault: InjectedFault) throws {
        let t = try trainer { $0 == 3 ? fault : nil }
        for _ in 0..<2 { #expect(try !t.step().skipped) }
        let before = snapshot(t), state = t.state
        let m = try t.step()
        #expect(m.skipped && m.step == 3 && m.groups.count == 2, "\(m)")
        #expect(snapshot(t) == before, "a skipped step changed the adapter or the optimizer state")
        #expect(t.state.step == 2 && t.state.skipped == 1 && t.state.badInARow == 1)
        #expect(t.state.cursor != state.cursor || t.state.epoch != state.epoch, "the data position stays on the bad batch")
        // training goes on: the next step is taken and changes the adapter
        let next = try t.step()
        #expect(!next.skipped && next.step == 3 && t.state.badInARow == 0 && t.state.skipped == 1)
        #expect(snapshot(t) != before)
    }

    @Test func aNonFiniteLossSkipsTheStep() throws {
        try skipsWithoutChange(.loss(.nan))
        try skipsWithoutChange(.loss(.infinity))
    }

    @Test func aNonFiniteGradientSkipsTheStep() throws {
        try skipsWithoutChange(.gradient(.nan))
        try skipsWithoutChange(.gradient(-.infinity))
    }

    @Test func tooManyBadStepsInARowStopTraining() throws {
        // bad at attempts 2, 3, then good, then bad from 5 on: the limit of 3 is reached at attempt 7
        let t = try trainer(maxBadSteps: 3) { $0 == 2 || $0 == 3 || $0 >= 5 ? .loss(.nan) : nil }
        var skipped: [Bool] = []
        for _ in 0..<6 { skipped.append(try t.step().skipped) }
        #expect(skipped == [false, true, true, false, true, true])
        let before = snapshot(t)
        do {
            _ = try t.step()
            Issue.record("the third bad step in a row did not stop training")
        } catch let e as NonFiniteSteps {
            #expect(e.count == 3 && e.last.skipped && e.last.step == 3 && e.last.loss.isNaN)
            #expect("\(e)".contains("3 steps in a row had a non-finite loss") && "\(e)".contains("after step 2"), "\(e)")
        }
        #expect(snapshot(t) == before && t.state.step == 2 && t.state.skipped == 5)
    }

    /// The skip counters are part of the checkpoint, so a resumed run counts on.
    @Test func skipCountsSurviveACheckpoint() throws {
        let t = try trainer { $0 == 2 ? .gradient(.nan) : nil }
        for _ in 0..<3 { _ = try t.step() }
        let u = try trainer { _ in nil }
        try u.restore(t.checkpoint(config: "name: x"), source: "memory")
        #expect(u.state == t.state && u.state.skipped == 1)
    }

    @Test func spikesAreLossesAboveThreeTimesTheRunningMedian() {
        var d = LossSpikeDetector()
        // the first `minimum` losses only fill the window
        for i in 0..<10 { #expect(d.observe(i == 4 ? 100 : 1) == nil) }
        #expect(d.observe(2.9) == nil)
        #expect(d.observe(3.5) == 1)
        #expect(d.observe(.nan) == nil && d.recent.count == 12)
        // the window keeps the last 50: after 50 losses of 10 the median is 10
        for _ in 0..<50 { _ = d.observe(10) }
        #expect(d.recent.count == 50 && d.observe(29) == nil && d.observe(31) == 10)
    }

    /// One window per stage: a relations step (loss 1) among four times as many facts steps (0.25) is a
    /// spike against the mixed median (3 × 0.25 < 1) but not among relations steps; a facts step of 0.9 is one.
    @Test func spikesAreJudgedAmongStepsOfTheSameKind() {
        var mixed = LossSpikeDetector(), keyed = KeyedLossSpikeDetector()
        var mixedSpikes = 0, keyedSpikes = 0
        for i in 0..<100 {
            let (loss, kind): (Float, String) = i % 5 == 0 ? (1, "relations") : (0.25, "facts")
            if mixed.observe(loss) != nil { mixedSpikes += 1 }
            if keyed.observe(loss, key: kind) != nil { keyedSpikes += 1 }
        }
        #expect(mixedSpikes > 10 && keyedSpikes == 0)
        #expect(keyed.observe(0.9, key: "facts") == 0.25 && keyed.observe(0.9, key: "relations") == nil)
        #expect(keyed.detectors["facts"]!.recent.count == 50 && keyed.detectors["relations"]!.recent.count == 20 + 1)
        // a batch's kind: its groups' labels, sorted and joined; unlabelled groups give ""
        let e = EncodedExamples(groups: [], dropped: 0, examples: 0)
        #expect(e.label(of: [0, 1]) == "")
        var l = e; l.labels = ["relations", "facts", "facts"]
        #expect(l.label(of: [2, 1]) == "facts" && l.label(of: [1, 0]) == "facts+relations")
    }
}
