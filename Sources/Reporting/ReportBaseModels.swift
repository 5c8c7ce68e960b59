// The report's base-model part: experiments that differ in their base model (Data/report/study.json's
// `base_model_comparisons`, each [reference, challenger]) side by side on every split both were scored on:
// what training cost, AutoRE scores with intervals, extraction speed, and a paired bootstrap of the difference.
import DocRE
import FineTuning
import Experiments
import Foundation
import RHF

extension Report {
    func baseModelSection(_ entries: [Entry], pairs: [[String]]) -> String {
        var s = ""
        for pair in pairs {
            guard let a = entries.first(where: { $0.name == pair[0] }), let b = entries.first(where: { $0.name == pair[1] }) else { continue }
            for ra in a.splits.sorted(by: { $0.split < $1.split }) {
                guard let rb = b.splits.first(where: { $0.split == ra.split }) else { continue }
                if s.isEmpty {
                    s = "## Base models (AutoRE scoring)\n\n"
                    s += "Experiments that differ in their base model, or in how its weights are held (weights: nf4 quantized again from the GGUF, native the GGUF's own blocks), on the same documents. Training: the tokens of one epoch of every stage's examples (each model's own tokenizer) and the time of the training logs on 2 cores; a decoding variant shows the training of the run whose adapters it decodes. Extraction: documents per minute of the split's extraction (2 threads). The difference is the challenger's AutoRE F1 minus the reference's, with a paired bootstrap over the documents.\n\n"
                }
                s += "On \(ra.split) (\(ra.documents) documents):\n\n"
                s += "| experiment | base model | weights | training tokens / epoch | training time | AutoRE P | R | F1 | 95% interval | extraction documents/min |\n|---|---|---|---|---|---|---|---|---|---|\n"
                for (e, r) in [(a, ra), (b, rb)] { s += baseModelRow(e, r, entries) }
                let d = 100 * (rb.autore.total.f1 - ra.autore.total.f1)
                s += "\n\(b.name) minus \(a.name): \(String(format: "%+.2f", d)) points of AutoRE F1. "
                s += Self.bootstrapSentence(rb, ra, of: "\(b.name) minus \(a.name)") + "\n\n"
            }
        }
        return s
    }

    func baseModelRow(_ e: Entry, _ r: SplitResult, _ entries: [Entry]) -> String {
        let pct = ReportTable.pct
        // a decoding variant (config `run:` naming another experiment) was trained as that run
        let trained = e.config?.run.flatMap { n in n == e.name ? nil : entries.first(where: { $0.name == n }) } ?? e
        let tokens = trained.training.isEmpty ? "–" : String(trained.training.reduce(0) { $0 + $1.trainTokensPerEpoch })
        // the training logs of the run that trained the adapters (its results folder holds them even before
        // it is scored itself); a summary's seconds cover only the session that finished the run
        let logs = e.config?.run ?? trained.name
        let seconds = trained.training.reduce(0.0) { $0 + (trainingSeconds(logs, $1.stage.rawValue) ?? $1.seconds) }
        let time = trained.training.isEmpty ? "–" : ProgressLine.clock(seconds) + (logs == e.name ? "" : " (\(logs))")
        let speed = r.extraction.map { String(format: "%.1f", $0.documentsPerMinute) } ?? "–"
        let a = r.autore.total
        return "| \(e.name) | \(e.config?.baseModel ?? "?") | \(e.config?.quantization.rawValue ?? "?") | \(tokens) | \(time) | \(pct(a.precision)) | \(pct(a.recall)) | **\(pct(a.f1))** | \(e.interval(r)) | \(speed) |\n"
    }
}
