// `autore adapter export|inspect`: a trained adapter as a PEFT adapter folder, and what such a folder holds.
// Converts and describes; loads no model (shapes are checked when an adapter is imported into one).
import ArgumentParser
import Experiments
import Foundation
import LanguageModels
import ModelFormats
import NeuralNet
import RHF

struct AdapterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapter",
        abstract: "Move LoRA adapters to Hugging Face PEFT's format and look inside adapter folders.",
        subcommands: [AdapterExport.self, AdapterInspect.self]
    )
}

struct AdapterExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the adapter of a training checkpoint as a PEFT adapter folder.",
        discussion: """
        The folder (adapter_config.json + adapter_model.safetensors, Float32) loads with \
        PeftModel.from_pretrained(base, DIR). LoRA settings come from the run's config stored in the \
        checkpoint. The folder is written atomically; an existing one is replaced only if it holds \
        nothing but adapter files.
        """)

    @Option(help: "The trainer's checkpoint (Experiments/runs/<name>/checkpoint.h5).")
    var checkpoint: String?
    @Option(name: .customLong("run"), help: "Or a run folder: every stage's kept adapter (peft/, best.h5, else adapter.h5) goes to OUT/<stage>/ with autore.json.")
    var runFolder: String?
    @Option(help: "The adapter folder to write.")
    var out: String
    @Option(help: "base_model_name_or_path to record (default: the Hugging Face name of smollm2, or the run's base_model).")
    var baseModel: String?

    func run() throws {
        if let runFolder {
            guard checkpoint == nil else { throw ValidationError("give --checkpoint or --run, not both") }
            for a in try RunAdapters.load([runFolder]) {
                let cfg = try? ExperimentConfig.parse(a.config, file: a.source)
                let base = baseModel ?? ModelLocation.huggingFaceName(cfg?.baseModel ?? "smollm2")
                let dir = URL(fileURLWithPath: out).appendingPathComponent(a.stage.rawValue).path
                try a.writePEFT(to: dir, baseModel: base)
                print("wrote \(dir): \(a.stage) adapter from \(a.source) (step \(a.step)), r=\(a.lora.rank), targets \(a.lora.targets.joined(separator: ","))")
            }
            return
        }
        guard let checkpoint else { throw ValidationError("give --checkpoint or --run") }
        let ckpt = try Checkpoint(contentsOf: checkpoint)
        guard let configText = ckpt.strings["config"] else { throw ValidationError("\(checkpoint): holds no run config (strings/config)") }
        guard let name = ckpt.strings["adapter"] else { throw ValidationError("\(checkpoint): names no adapter (strings/adapter)") }
        let config = try ExperimentConfig.parse(configText, file: checkpoint + " (stored config)")
        var weights: [String: FloatArray] = [:]
        for (key, value) in ckpt.floats where key.hasPrefix("adapter/") { weights[String(key.dropFirst("adapter/".count))] = value }
        let base = baseModel ?? (config.baseModel == "smollm2" ? "HuggingFaceTB/SmolLM2-135M-Instruct" : config.baseModel)
        let adapter: PEFTAdapter
        do { adapter = try PEFTAdapter(weights: weights, adapter: name, lora: config.lora.loraConfig, baseModel: base) }
        catch { throw ValidationError("\(checkpoint): \(error)") }
        try adapter.write(to: out)
        let step = ckpt.integers["step"].map { " at step \($0)" } ?? ""
        print("wrote \(out): adapter '\(name)' of run '\(config.name)'\(step), \(adapter.modules.count) layers, "
              + "r=\(adapter.lora.rank), alpha=\(adapter.lora.alpha), targets \(adapter.lora.targets.joined(separator: ","))")
    }
}

struct AdapterInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a PEFT adapter folder's LoRA settings, adapted layers and matrix shapes.")

    @Argument(help: "A PEFT adapter folder (adapter_config.json + adapter_model.safetensors).")
    var directory: String
    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    struct Summary: Encodable {
        struct Group: Encodable { var target: String; var layers: Int; var a: [Int]; var b: [Int]; var maxAbsB: Float }
        var path: String, baseModel: String?, rank: Int, alpha: Float, scale: Float, dropout: Float, rslora: Bool
        var targets: [String], modules: Int, parameters: Int, groups: [Group]
    }

    func run() throws {
        let adapter = try PEFTAdapter(directory: directory)
        let l = adapter.lora
        var groups: [Summary.Group] = []
        for target in l.targets {
            let ms = adapter.modules.filter { PEFTAdapter.targets([target], module: $0.key) }.sorted { $0.key < $1.key }
            guard let first = ms.first?.value else { continue }
            let shapesAgree = ms.allSatisfy { $0.value.a.shape == first.a.shape && $0.value.b.shape == first.b.shape }
            groups.append(Summary.Group(target: target, layers: ms.count, a: shapesAgree ? first.a.shape : [],
                                        b: shapesAgree ? first.b.shape : [],
                                        maxAbsB: ms.map { $0.value.b.values.map(abs).max() ?? 0 }.max() ?? 0))
        }
        let parameters = adapter.modules.values.reduce(0) { $0 + $1.a.values.count + $1.b.values.count }
        let s = Summary(path: directory, baseModel: adapter.baseModel, rank: l.rank, alpha: l.alpha, scale: l.scale,
                        dropout: l.dropout, rslora: l.rsLoRA, targets: l.targets, modules: adapter.modules.count,
                        parameters: parameters, groups: groups)
        if json { try printJSON(s); return }
        print("\(directory): PEFT LoRA adapter of \(adapter.baseModel ?? "an unnamed base")")
        print("r \(l.rank), lora_alpha \(l.alpha), scale \(l.scale)\(l.rsLoRA ? " (rsLoRA)" : ""), dropout \(l.dropout)")
        print("\(adapter.modules.count) adapted layers, \(parameters) parameters")
        for g in groups {
            let shapes = g.a.isEmpty ? "shapes differ between layers" : "A \(g.a), B \(g.b)"
            print("  \(g.target): \(g.layers) layers, \(shapes), max |B| \(g.maxAbsB)\(g.maxAbsB == 0 ? " (untrained: B = 0)" : "")")
        }
    }
}
