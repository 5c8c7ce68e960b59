// `autore extract --out P.jsonl` killed with SIGKILL at seeded random moments and rerun ends with exactly the
// predictions of an uninterrupted run, and the file is at every kill absent or whole lines of that run (never
// a partial line). What is checked does not depend on where the kills land.
import Autograd
import Foundation
import Support
import Testing

@Suite(.serialized) struct ExtractKillTests {
    /// `data` must be absent (nil) or whole lines that begin `reference`; returns how many lines it has.
    static func check(_ data: Data?, against reference: Data, _ context: String) -> Int? {
        guard let data else { return nil }
        #expect(data.isEmpty || data.last == 0x0A, "\(context): the file ends in a partial line")
        #expect(data == reference.prefix(data.count), "\(context): the lines written differ from the uninterrupted run's")
        return data.split(separator: 0x0A).count
    }

    @Test func killedAndResumedExtractionEqualsUninterruptedExtraction() throws {
        let child = Child(exe: try KillResumeTests.autoreExecutable())
        let fx = try ExtractFixture()
        defer { try? FileManager.default.removeItem(at: fx.base.root) }
        let (reference, duration) = try fx.reference(child)

        var g = SplitMix64(seed: 7)
        var linesAtKills: [String] = [], killedMidRun = 0
        for trial in 0..<3 {
            let out = fx.base.root.appendingPathComponent("killed-\(trial).jsonl")
            for attempt in 0..<2 {
                let p = try child.start(fx.extract(out))
                var delay = g.nextDouble() * duration
                if trial == 0 && attempt == 0 { delay = 0 }   // one kill before the file can exist
                usleep(UInt32(delay * 1e6))
                if p.isRunning { kill(p.processIdentifier, SIGKILL); killedMidRun += 1 }
                p.waitUntilExit()
                let n = Self.check(FileManager.default.contents(atPath: out.path), against: reference,
                                   "trial \(trial) attempt \(attempt), SIGKILL at \(String(format: "%.3f", delay)) s")
                linesAtKills.append(n.map(String.init) ?? "none")
            }
            let r = try child.run(fx.extract(out))
            try #require(r.status == 0, "trial \(trial): the resumed extraction failed: \(r.errors)")
            #expect(FileManager.default.contents(atPath: out.path) == reference, "trial \(trial): the resumed predictions differ")
        }
        print("extract kill-and-resume: extraction about \(String(format: "%.2f", duration)) s; \(killedMidRun) of 6 kills hit a running process; " +
              "lines on disk after each kill: \(linesAtKills.joined(separator: ", ")) of \(ExtractFixture.documents)")
    }
}
