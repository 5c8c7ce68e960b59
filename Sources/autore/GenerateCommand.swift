// `autore generate` and `autore logits`: run a base model on a prompt.
import ArgumentParser
import Autograd
import Experiments
import Foundation
import LanguageModels
import RHF

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with a base model (greedy by default).")

    @OptionGroup var choice: ModelChoice
    @Option(help: "The prompt text.")
    var prompt: String
    @Flag(help: "Wrap the prompt as a user turn of the model's chat template.")
    var chat = false
    @Option(help: "Tokens to generate at most.")
    var maxNewTokens = 64
    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0
    @Option(help: "Keep only the K most likely tokens when sampling (0: all).")
    var topK = 0
    @Option(help: "Nucleus sampling mass (1: off).")
    var topP: Float = 1
    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0
    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    struct Output: Encodable { let promptIds: [Int]; let outputIds: [Int]; let text: String; let seconds: Double }

    func run() throws {
        let m = try LoadedModel(choice.model)
        let ids = m.promptIds(try m.render(prompt, chat: chat))
        let start = Date()
        let out = try m.model.generate(prompt: ids, options: GenerationOptions(
            maxNewTokens: maxNewTokens, sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP),
            stopTokens: m.stopTokens, seed: seed))
        let text = m.tokenizer.decode(out, skipSpecialTokens: true)
        if json {
            try printJSON(Output(promptIds: ids, outputIds: out, text: text, seconds: Date().timeIntervalSince(start)))
        } else {
            print(text)
        }
    }
}

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "For every position of a text, the K highest next-token logits.")

    @OptionGroup var choice: ModelChoice
    @Option(help: "The text.")
    var text: String
    @Option(help: "How many logits per position.")
    var topK = 5
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    struct Position: Encodable { let position: Int; let token: Int; let ids: [Int]; let logits: [Float] }

    func run() throws {
        let m = try LoadedModel(choice.model)
        let ids = m.promptIds(text)
        guard !ids.isEmpty else { throw ValidationError("the text has no tokens") }
        let logits = try withNoGrad {
            try m.model.logits(m.model.forward(ids: ids.map(Int32.init), batch: 1, length: ids.count).hidden)
        }
        let v = m.model.config.vocabSize, k = max(1, min(topK, v))
        let rows = (0..<ids.count).map { t -> Position in
            let row = UnsafeBufferPointer(start: logits.data + t * v, count: v)
            let best = (0..<v).sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(k)
            return Position(position: t, token: ids[t], ids: Array(best), logits: best.map { row[$0] })
        }
        if json { try printJSON(rows); return }
        for r in rows {
            let cells = zip(r.ids, r.logits).map { "\($0):\(m.tokenizer.token($0) ?? "?")=\(String(format: "%.3f", $1))" }
            print("\(r.position)\t\(m.tokenizer.token(r.token) ?? "?")\t\(cells.joined(separator: "  "))")
        }
    }
}
