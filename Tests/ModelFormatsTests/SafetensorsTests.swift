// safetensors: round trips of F32/F16/BF16 with metadata, sharded checkpoints, corrupt files; HF config.json.
import Foundation
import Testing
@testable import ModelFormats

func testValue(_ i: Int, _ offset: Int = 0) -> Float { 0.1 + 2 * cos(Float(i + offset)) }

@Suite struct SafetensorsTests {
    @Test func roundTripAllDTypes() throws {
        let a = (0..<15).map { testValue($0) }, b = (0..<17).map { testValue($0, 3) }, c = (0..<7).map { testValue($0, 5) }
        let path = TempFiles.dir + "/rt.safetensors"
        try SafetensorsWriter.write([
            SafetensorsTensor(name: "a", dtype: .f32, shape: [3, 5], values: a),
            SafetensorsTensor(name: "b", dtype: .f16, shape: [17], values: b),
            SafetensorsTensor(name: "c", dtype: .bf16, shape: [7, 1], values: c),
            SafetensorsTensor(name: "empty", dtype: .f32, shape: [0, 4], values: []),
        ], metadata: ["format": "pt", "note": "ünïcode"], to: path)
        let f = try SafetensorsFile(path: path)
        #expect(f.metadata == ["format": "pt", "note": "ünïcode"])
        #expect(f.dataOffset % 8 == 0)
        #expect(f.tensor(named: "a")?.shape == [3, 5] && f.tensor(named: "b")?.dtype == .f16)
        #expect(try f.floats("a") == a)
        // F16 / BF16 keep 11 / 8 significant bits: relative error ≤ 2^-11 / 2^-8
        for (x, y) in zip(try f.floats("b"), b) { #expect(abs(x - y) <= abs(y) * 0x1p-11) }
        for (x, y) in zip(try f.floats("c"), c) { #expect(abs(x - y) <= abs(y) * 0x1p-8) }
        #expect(try f.floats("empty").isEmpty)
        // conversions are exact on representable values and round to nearest even
        #expect(floatToHalf(1) == 0x3C00 && floatToHalf(-2) == 0xC000 && floatToHalf(65504) == 0x7BFF && floatToHalf(1e6) == 0x7C00)
        #expect(floatToHalf(0x1p-24) == 0x0001 && floatToHalf(1 + 0x1p-11) == 0x3C00 && floatToHalf(1 + 3 * 0x1p-11) == 0x3C02)
        #expect(floatToBF16(1) == 0x3F80 && floatToBF16(-3) == 0xC040)
    }

    @Test func shardedCheckpoint() throws {
        let dir = TempFiles.dir + "/sharded"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SafetensorsWriter.write([SafetensorsTensor(name: "x", shape: [2], values: [1, 2])], to: dir + "/model-00001-of-00002.safetensors")
        try SafetensorsWriter.write([SafetensorsTensor(name: "y", shape: [1], values: [3])], to: dir + "/model-00002-of-00002.safetensors")
        let index = #"{"metadata": {"total_size": 12}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}}"#
        try index.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        let ck = try SafetensorsCheckpoint(directory: dir)
        #expect(ck.tensorNames == ["x", "y"])
        #expect(try ck.floats("x") == [1, 2] && ck.floats("y") == [3])
        #expect(throws: SafetensorsError.self) { _ = try ck.floats("z") }
        let single = TempFiles.dir + "/single"
        try FileManager.default.createDirectory(atPath: single, withIntermediateDirectories: true)
        try SafetensorsWriter.write([SafetensorsTensor(name: "w", shape: [1], values: [4])], to: single + "/model.safetensors")
        #expect(try SafetensorsCheckpoint(directory: single).floats("w") == [4])
    }

    func file(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { Array($0) } + h + data
    }

    func expectRefused(_ bytes: [UInt8], _ field: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let path = TempFiles.write(bytes, "bad.safetensors")
        do { _ = try SafetensorsFile(path: path); Issue.record("accepted", sourceLocation: sourceLocation) }
        catch let e as SafetensorsError {
            #expect(e.field.contains(field) && e.description.contains(path), "\(e)", sourceLocation: sourceLocation)
        } catch { Issue.record("unexpected \(error)", sourceLocation: sourceLocation) }
    }

    @Test func corruptFilesAreRefused() {
        let ok = #"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#
        expectRefused([1, 2, 3], "header size")
        expectRefused(file(header: ok, data: [UInt8](repeating: 0, count: 8), lengthOverride: 1 << 40), "header size")
        expectRefused(file(header: "{not json", data: []), "header")
        expectRefused(file(header: #"{"t": {"dtype": "I8", "shape": [2], "data_offsets": [0, 2]}}"#, data: [0, 0]), "t.dtype")
        expectRefused(file(header: ok, data: [0, 0, 0]), "t.data_offsets")            // data past the end
        expectRefused(file(header: #"{"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "t.data_offsets")
        expectRefused(file(header: #"{"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "t.shape")
        expectRefused(file(header: #"{"t": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "t.shape")
        expectRefused(file(header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: [UInt8](repeating: 0, count: 8)), "data_offsets")
        expectRefused(file(header: #"{"__metadata__": {"k": 1}}"#), "__metadata__.k")
    }
}

@Suite struct LlamaPermutationTests {
    /// What llama.cpp's converter does, written from its numpy expression
    /// w.reshape(n_head, 2, hd/2, in).swapaxes(1, 2).reshape(w.shape).
    func converterPermute(_ w: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
        let hd = rows / heads, half = hd / 2
        var out = [Float](repeating: 0, count: w.count)
        for h in 0..<heads { for i in 0..<half { for j in 0..<2 { for c in 0..<cols {
            // output index (h, i, j, c) of shape (heads, half, 2, cols) reads input (h, j, i, c) of (heads, 2, half, cols)
            out[((h * half + i) * 2 + j) * cols + c] = w[((h * 2 + j) * half + i) * cols + c]
        } } } }
        return out
    }

    @Test(arguments: [(rows: 12, cols: 5, heads: 3), (rows: 8, cols: 3, heads: 1), (rows: 16, cols: 1, heads: 2)])
    func unpermuteInvertsTheConverter(_ c: (rows: Int, cols: Int, heads: Int)) {
        let hf = (0..<(c.rows * c.cols)).map { testValue($0) }
        let gguf = converterPermute(hf, rows: c.rows, cols: c.cols, heads: c.heads)
        #expect(gguf != hf)
        #expect(GGUFLlamaPermutation.permute(hf, rows: c.rows, columns: c.cols, heads: c.heads) == gguf)
        #expect(GGUFLlamaPermutation.unpermute(gguf, rows: c.rows, columns: c.cols, heads: c.heads) == hf)
    }

    @Test func headDimFourByHand() {
        // one head, hd = 4, one column: HF rows [x0, x1, x2, x3] (pairs (x0,x2), (x1,x3)) → GGUF [x0, x2, x1, x3]
        #expect(GGUFLlamaPermutation.permute([0, 1, 2, 3], rows: 4, columns: 1, heads: 1) == [0, 2, 1, 3])
        #expect(GGUFLlamaPermutation.unpermute([0, 2, 1, 3], rows: 4, columns: 1, heads: 1) == [0, 1, 2, 3])
        // hd = 6: GGUF [a0 a3 a1 a4 a2 a5] → HF [a0 a1 a2 a3 a4 a5]
        #expect(GGUFLlamaPermutation.unpermute([0, 3, 1, 4, 2, 5], rows: 6, columns: 1, heads: 1) == [0, 1, 2, 3, 4, 5])
    }
}

@Suite struct HFConfigTests {
    @Test func decodesLlama3Config() throws {
        let json = #"""
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
         "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
         "head_dim": 64, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": true,
         "max_position_embeddings": 131072, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
         "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "torch_dtype": "bfloat16"}
        """#
        let c = try HFConfig.decode(Data(json.utf8))
        #expect(c.modelType == "llama" && c.numKeyValueHeads == 8 && c.headDim == 64)
        #expect(c.eosTokenId == 128001 && c.eosTokenIds == [128001, 128008, 128009])
        #expect(c.ropeScaling?.kind == "llama3" && c.ropeScaling?.factor == 32)
    }

    @Test func wrongTypeNamesTheKey() {
        do { _ = try HFConfig.decode(Data(#"{"model_type": "llama", "hidden_size": "big"}"#.utf8)); Issue.record("accepted") }
        catch let e as SafetensorsError { #expect(e.field == "hidden_size", "\(e)") }
        catch { Issue.record("\(error)") }
    }
}
