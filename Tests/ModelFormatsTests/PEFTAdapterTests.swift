// PEFT adapter folders: exact round trip, PEFT's extra config keys tolerated, atomic replacement, and one
// clear error naming the file and key for each kind of bad input.
import Foundation
import Support
import Testing
@testable import ModelFormats

@Suite struct PEFTAdapterTests {
    func newDir() -> String { TempFiles.dir + "/peft-\(UUID().uuidString.prefix(8))" }

    /// Two layers × q_proj, v_proj of a tiny model (in 6, q out 6, v out 3), rank 2.
    func sample(rank: Int = 2, offset: Int = 0) -> PEFTAdapter {
        var modules: [String: PEFTAdapter.Matrices] = [:]
        for layer in 0..<2 {
            for (proj, out) in [("q_proj", 6), ("v_proj", 3)] {
                let k = modules.count * 100 + offset
                modules["model.layers.\(layer).self_attn.\(proj)"] = PEFTAdapter.Matrices(
                    a: FloatArray(shape: [rank, 6], values: (0..<(rank * 6)).map { testValue($0, k) }),
                    b: FloatArray(shape: [out, rank], values: (0..<(out * rank)).map { testValue($0, k + 50) }))
            }
        }
        return PEFTAdapter(lora: LoRAConfig(rank: rank, alpha: 16, dropout: 0.05, targets: ["q_proj", "v_proj"], rsLoRA: true),
                           baseModel: "tiny/llama", modules: modules)
    }

    /// A folder with `config` as adapter_config.json and `tensors` as adapter_model.safetensors.
    func folder(config: String, tensors: [SafetensorsTensor]) throws -> String {
        let dir = newDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try config.write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: dir + "/adapter_model.safetensors")
        return dir
    }

    /// What PEFT 0.21 writes for r=2, alpha 16, q_proj + v_proj (its extra keys included), with edits.
    func configText(_ edits: [String: String] = [:]) -> String {
        var keys: [String: String] = [
            "alora_invocation_tokens": "null", "alpha_pattern": "{}", "arrow_config": "null", "auto_mapping": "null",
            "base_model_name_or_path": #""tiny/llama""#, "bias": #""none""#, "corda_config": "null",
            "ensure_weight_tying": "false", "eva_config": "null", "exclude_modules": "null", "fan_in_fan_out": "false",
            "inference_mode": "true", "init_lora_weights": "true", "kasa_config": "null", "layer_replication": "null",
            "layers_pattern": "null", "layers_to_transform": "null", "loftq_config": "{}", "lora_alpha": "16",
            "lora_bias": "false", "lora_dropout": "0.0", "lora_ga_config": "null", "megatron_config": "null",
            "megatron_core": #""megatron.core""#, "modules_to_save": "null", "monteclora_config": "null",
            "peft_type": #""LORA""#, "peft_version": #""0.21.2""#, "qalora_group_size": "16", "r": "2",
            "rank_pattern": "{}", "revision": "null", "target_modules": #"["v_proj", "q_proj"]"#,
            "target_parameters": "null", "task_type": #""CAUSAL_LM""#, "trainable_token_indices": "null",
            "use_bdlora": "null", "use_dora": "false", "use_qalora": "false", "use_rslora": "false", "velora_config": "null",
        ]
        for (k, v) in edits { keys[k] = v == "<absent>" ? nil : v }
        return "{\n" + keys.sorted { $0.key < $1.key }.map { "  \"\($0.key)\": \($0.value)" }.joined(separator: ",\n") + "\n}"
    }

    /// The tensors of `sample()` under PEFT's names.
    func sampleTensors(_ adapter: PEFTAdapter? = nil, dtype: SafetensorsDType = .f32) -> [SafetensorsTensor] {
        let a = adapter ?? sample()
        return a.modules.keys.sorted().flatMap { m in [
            SafetensorsTensor(name: PEFTAdapter.tensorName(module: m, matrix: "A"), dtype: dtype, shape: a.modules[m]!.a.shape, values: a.modules[m]!.a.values),
            SafetensorsTensor(name: PEFTAdapter.tensorName(module: m, matrix: "B"), dtype: dtype, shape: a.modules[m]!.b.shape, values: a.modules[m]!.b.values),
        ] }
    }

    @Test func roundTripThroughAFolderIsExact() throws {
        let dir = newDir(), a = sample()
        try a.write(to: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["adapter_config.json", "adapter_model.safetensors"])
        let back = try PEFTAdapter(directory: dir)
        #expect(back == a)
        #expect(back.lora.scale == 16 / Float(2).squareRoot())
        let st = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        #expect(st.tensors.allSatisfy { $0.dtype == .f32 } && st.metadata == ["format": "pt"])
        #expect(st.tensor(named: "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")?.shape == [3, 2])
        let json = try String(contentsOfFile: dir + "/adapter_config.json", encoding: .utf8)
        #expect(json.contains(#""peft_type": "LORA""#) && json.contains(#""lora_dropout": 0.05"#) && json.contains(#""r": 2"#))
    }

    @Test func readsWhatPEFTWritesIncludingHalfPrecision() throws {
        for dtype in SafetensorsDType.allCases {
            let dir = try folder(config: configText(), tensors: sampleTensors(dtype: dtype))
            let a = try PEFTAdapter(directory: dir)
            #expect(a.lora == LoRAConfig(rank: 2, alpha: 16, dropout: 0, targets: ["v_proj", "q_proj"], rsLoRA: false))
            #expect(a.baseModel == "tiny/llama" && a.inferenceMode && a.modules.count == 4)
            let want = sample().modules["model.layers.0.self_attn.q_proj"]!.a.values
            let got = a.modules["model.layers.0.self_attn.q_proj"]!.a.values
            let bits: Float = dtype == .f32 ? 0 : dtype == .f16 ? 0x1p-11 : 0x1p-8
            for (x, y) in zip(got, want) { #expect(abs(x - y) <= abs(y) * bits, "\(dtype)") }
        }
    }

    @Test func replacingAnAdapterLeavesNoTemporaries() throws {
        let parent = newDir(), dir = parent + "/adapter"
        try sample(offset: 1).write(to: dir)
        try "card".write(toFile: dir + "/README.md", atomically: true, encoding: .utf8)
        try sample(offset: 2).write(to: dir)
        #expect(try PEFTAdapter(directory: dir) == sample(offset: 2))
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == ["adapter"])
        // A folder holding anything else is not ours to replace.
        try "x".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        let e = #expect(throws: PEFTAdapterError.self) { try sample(offset: 3).write(to: dir) }
        #expect(e?.reason.contains("notes.txt") == true)
        #expect(try PEFTAdapter(directory: dir) == sample(offset: 2))
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == ["adapter"])
        // An inconsistent adapter is refused before anything is written.
        var bad = sample()
        bad.modules["model.layers.0.self_attn.q_proj"]!.b = FloatArray(shape: [6, 3], values: Array(repeating: 0, count: 18))
        let e2 = #expect(throws: PEFTAdapterError.self) { try bad.write(to: parent + "/bad") }
        #expect(e2?.reason.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == ["adapter"])
    }

    /// Expects one PEFTAdapterError whose path ends in `file` and whose reason contains `words`.
    func expectRefused(_ dir: String, file: String, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try PEFTAdapter(directory: dir)
            Issue.record("accepted", sourceLocation: sourceLocation)
        } catch let e as PEFTAdapterError {
            #expect(e.path.hasSuffix(file) && e.reason.contains(words), "\(e)", sourceLocation: sourceLocation)
        } catch { Issue.record("unexpected \(error)", sourceLocation: sourceLocation) }
    }

    @Test func missingFilesAreNamed() throws {
        expectRefused(newDir(), file: "", "no such adapter folder")
        let noConfig = try folder(config: configText(), tensors: sampleTensors())
        try FileManager.default.removeItem(atPath: noConfig + "/adapter_config.json")
        expectRefused(noConfig, file: "adapter_config.json", "missing")
        let noWeights = try folder(config: configText(), tensors: sampleTensors())
        try FileManager.default.moveItem(atPath: noWeights + "/adapter_model.safetensors", toPath: noWeights + "/adapter_model.bin")
        expectRefused(noWeights, file: "adapter_model.safetensors", "pickle")
    }

    @Test func badConfigsNameTheKey() throws {
        let t = sampleTensors()
        expectRefused(try folder(config: "{\"r\": 2,", tensors: t), file: "adapter_config.json", "not valid JSON")
        expectRefused(try folder(config: "[1]", tensors: t), file: "adapter_config.json", "not a JSON object")
        let cases: [([String: String], String)] = [
            (["peft_type": #""IA3""#], "key 'peft_type'"),
            (["task_type": #""SEQ_CLS""#], "key 'task_type'"),
            (["bias": #""all""#], "key 'bias'"),
            (["use_dora": "true"], "key 'use_dora'"),
            (["rank_pattern": #"{"q_proj": 4}"#], "key 'rank_pattern'"),
            (["alpha_pattern": #"{"v_proj": 8}"#], "key 'alpha_pattern'"),
            (["modules_to_save": #"["lm_head"]"#], "key 'modules_to_save'"),
            (["fan_in_fan_out": "true"], "key 'fan_in_fan_out'"),
            (["layers_to_transform": "[0]"], "key 'layers_to_transform'"),
            (["r": "<absent>"], "key 'r'"),
            (["r": "2.5"], "key 'r'"),
            (["r": "\"2\""], "key 'r'"),
            (["lora_alpha": "0"], "key 'lora_alpha'"),
            (["lora_dropout": "1.5"], "key 'lora_dropout'"),
            (["use_rslora": "1"], "key 'use_rslora'"),
            (["target_modules": #"".*q_proj""#], "key 'target_modules'"),
            (["target_modules": "[]"], "key 'target_modules'"),
            (["use_magic": "true"], "key 'use_magic'"),
        ]
        for (edit, words) in cases {
            expectRefused(try folder(config: configText(edit), tensors: t), file: "adapter_config.json", words)
        }
        // Keys a newer PEFT adds are fine while they are off.
        _ = try PEFTAdapter(directory: folder(config: configText(["use_magic": "null", "magic_config": "{}"]), tensors: t))
    }

    @Test func badTensorsNameTheKey() throws {
        let cfg = configText()
        var t = sampleTensors()
        t.append(SafetensorsTensor(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", shape: [6], values: Array(repeating: 1, count: 6)))
        expectRefused(try folder(config: cfg, tensors: t), file: "adapter_model.safetensors", "lora_magnitude_vector")

        t = sampleTensors()
        t.append(SafetensorsTensor(name: "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight", shape: [2, 6], values: Array(repeating: 1, count: 12)))
        expectRefused(try folder(config: cfg, tensors: t), file: "adapter_model.safetensors", "not in target_modules")

        t = sampleTensors()
        let i = t.firstIndex { $0.name == "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight" }!
        t[i] = SafetensorsTensor(name: t[i].name, shape: [3, 4], values: Array(repeating: 0, count: 12))
        expectRefused(try folder(config: cfg, tensors: t), file: "adapter_model.safetensors", "'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight' has shape [3, 4]")

        t = sampleTensors()
        let j = t.firstIndex { $0.name == "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight" }!
        t[j] = SafetensorsTensor(name: t[j].name, shape: [12], values: Array(repeating: 0, count: 12))
        expectRefused(try folder(config: cfg, tensors: t), file: "adapter_model.safetensors", "2-D")

        t = sampleTensors()
        t.removeAll { $0.name == "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight" }
        expectRefused(try folder(config: cfg, tensors: t), file: "adapter_model.safetensors", "'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight' is missing")

        expectRefused(try folder(config: cfg, tensors: []), file: "adapter_model.safetensors", "no LoRA matrices")
    }

    @Test func truncatedWeightsAreRefused() throws {
        let dir = try folder(config: configText(), tensors: sampleTensors())
        let path = dir + "/adapter_model.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path))
        expectRefused(dir, file: "adapter_model.safetensors", "data_offsets")
        try bytes.prefix(5).write(to: URL(fileURLWithPath: path))
        expectRefused(dir, file: "adapter_model.safetensors", "header size")
    }

    @Test func tensorNamesFollowPEFT() {
        #expect(PEFTAdapter.tensorName(module: "model.layers.3.self_attn.q_proj", matrix: "A")
                == "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight")
        #expect(PEFTAdapter.parseTensorName("base_model.model.model.layers.3.mlp.down_proj.lora_B.weight")! == ("model.layers.3.mlp.down_proj", "B"))
        #expect(PEFTAdapter.parseTensorName("base_model.model.model.layers.3.mlp.down_proj.lora_A.default.weight") == nil)
        #expect(PEFTAdapter.parseTensorName("model.layers.3.mlp.down_proj.lora_A.weight") == nil)
        #expect(PEFTAdapter.targets(["q_proj"], module: "model.layers.0.self_attn.q_proj"))
        #expect(!PEFTAdapter.targets(["q_proj"], module: "model.layers.0.self_attn.qq_proj"))
    }
}
