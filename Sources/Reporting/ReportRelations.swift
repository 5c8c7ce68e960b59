// The report's per-relation view of every scored run: precision and recall on the ten relations with the
// most gold facts in the split, so that a run's F1 can be traced to the relations it finds or misses.
import DocRE
import Experiments
import FineTuning
import Foundation
import RHF

extension Report {
    /// The `count` relations with the most gold facts in `result` (ties by name).
    static func frequentRelations(_ result: SplitResult, count: Int = 10) -> [(String, PRF)] {
        Array(result.autore.perRelation.filter { $0.value.gold > 0 }
            .sorted { ($0.value.gold, $1.key) > ($1.value.gold, $0.key) }.prefix(count))
    }

    func frequentRelationsSection(_ entries: [Entry]) -> String {
        let rows = entries.flatMap { e in e.splits.sorted(by: { $0.split < $1.split }).map { (e, $0) } }
            .filter { !$0.1.autore.perRelation.isEmpty }
        guard !rows.isEmpty else { return "" }
        var s = "## The ten most frequent relations of each split (AutoRE scoring)\n\n"
        s += "Per run and split: the relations with the most gold facts there, each as gold facts, then precision / recall in % (– where the run wrote no triple of it).\n\n"
        for (e, r) in rows {
            let top = Self.frequentRelations(r)
            s += "<details><summary>\(e.name) · \(r.split)</summary>\n\n| relation | gold | P | R | F1 |\n|---|---|---|---|---|\n"
            for (name, p) in top {
                s += "| \(name) | \(p.gold) | \(p.predicted > 0 ? ReportTable.pct(p.precision) : "–") | \(ReportTable.pct(p.recall)) | \(ReportTable.pct(p.f1)) |\n"
            }
            s += "\n</details>\n\n"
        }
        return s
    }
}
