// `autore inspect MODEL`: what a GGUF or safetensors checkpoint holds (architecture, config, tensors, metadata).
// Reads headers only; no tensor data is decoded.
import ArgumentParser
import Foundation
import ModelFormats
import LanguageModels

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a checkpoint's architecture, model config, tensors (name, type, shape) and metadata.",
        discussion: """
        MODEL is a .gguf file, a .safetensors file, or a directory with config.json and \
        model.safetensors(.index.json). Long metadata arrays (vocabularies, merges) are summarised.
        """)

    @Argument(help: "Path to a .gguf file, a .safetensors file or a Hugging Face checkpoint directory.")
    var model: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @Option(help: "Show at most this many tensors (0 = all).")
    var maxTensors = 0

    func run() throws {
        var out: [String: Any] = ["path": model]
        var tensors: [[String: Any]] = []
        var config: ModelConfig? = nil
        var configError: String? = nil
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDir) else {
            throw ValidationError("\(model): no such file or directory")
        }
        if model.hasSuffix(".gguf") {
            let g = try GGUFFile(path: model)
            out["format"] = "gguf v\(g.version)"
            out["alignment"] = g.alignment
            var meta: [String: String] = [:]
            for k in g.metadataKeys { meta[k] = g.metadata[k]!.description }
            out["metadata"] = meta
            out["metadata_order"] = g.metadataKeys
            tensors = g.tensors.map { ["name": $0.name, "type": $0.type.description, "shape": $0.shape, "bytes": $0.byteCount] }
            do { config = try ModelConfig(gguf: g) } catch { configError = "\(error)" }
        } else {
            let dir = isDir.boolValue ? model : (model as NSString).deletingLastPathComponent
            if isDir.boolValue {
                let ck = try SafetensorsCheckpoint(directory: model)
                out["format"] = "safetensors checkpoint"
                tensors = try ck.tensorNames.map { n in let i = try ck.info(n); return ["name": n, "type": i.dtype.rawValue, "shape": i.shape] }
            } else {
                let f = try SafetensorsFile(path: model)
                out["format"] = "safetensors"
                out["metadata"] = f.metadata
                tensors = f.tensors.map { ["name": $0.name, "type": $0.dtype.rawValue, "shape": $0.shape] }
            }
            let cfgPath = dir + "/config.json"
            if FileManager.default.fileExists(atPath: cfgPath) {
                do { config = try ModelConfig(hf: HFConfig.load(path: cfgPath), source: cfgPath) } catch { configError = "\(error)" }
            }
        }
        out["tensor_count"] = tensors.count
        var counts: [String: Int] = [:]
        for t in tensors { counts[t["type"] as! String, default: 0] += 1 }
        out["tensor_types"] = counts
        if maxTensors > 0 { tensors = Array(tensors.prefix(maxTensors)) }
        out["tensors"] = tensors
        if let config {
            let d = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config))
            out["config"] = d
            out["architecture"] = config.architecture
        }
        if let configError { out["config_error"] = configError }
        if json {
            let d = try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: d, as: UTF8.self))
            return
        }
        print("\(model)\n  format: \(out["format"]!)")
        if let config {
            print("  architecture: \(config.architecture)")
            print("  config: vocab \(config.vocabSize), hidden \(config.hiddenSize), intermediate \(config.intermediateSize), layers \(config.layerCount), heads \(config.headCount) (kv \(config.kvHeadCount), dim \(config.headDim))")
            print("          rms eps \(config.rmsNormEps), rope theta \(config.ropeTheta)\(config.ropeScaling.map { ", rope scaling \($0)" } ?? ""), max positions \(config.maxPositions), tied embeddings \(config.tiedEmbeddings)\(config.slidingWindow.map { ", sliding window \($0)" } ?? ""), bos \(config.bosTokenId.map(String.init) ?? "-"), eos \(config.eosTokenId.map(String.init) ?? "-")")
            if let n = config.slidingWindowPattern, let w = config.slidingWindow {
                print("          local layers: window \(w), rope theta \(config.localRopeTheta ?? config.ropeTheta); every \(n)th layer global")
            }
            var extras: [String] = []
            if let s = config.embeddingScale { extras.append("embedding × \(String(format: "%.4f", s))") }
            if config.normAddsOne { extras.append("norms × (1 + w)") }
            if config.sandwichNorms { extras.append("norms before and after attention and MLP") }
            if config.queryKeyNorm { extras.append("q/k norms") }
            if config.activation != .silu { extras.append("MLP activation \(config.activation.rawValue)") }
            if let q = config.queryPreAttentionScalar { extras.append("query_pre_attn_scalar \(q)") }
            if !extras.isEmpty { print("          " + extras.joined(separator: ", ")) }
        }
        if let configError { print("  config: \(configError)") }
        if let order = out["metadata_order"] as? [String], let meta = out["metadata"] as? [String: String] {
            print("  metadata (\(order.count)):")
            for k in order { print("    \(k) = \(meta[k]!)") }
        } else if let meta = out["metadata"] as? [String: String], !meta.isEmpty {
            print("  metadata: \(meta)")
        }
        print("  tensors (\(out["tensor_count"]!); \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))):")
        for t in tensors { print("    \(t["name"]!)  \(t["type"]!)  \(t["shape"]!)") }
    }
}
