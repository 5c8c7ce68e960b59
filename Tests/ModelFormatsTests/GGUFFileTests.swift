// GGUF reader: a small file from the test writer read back, every corruption refused with one error naming
// the field, the real SmolLM2 file against gguf-py values, and ModelConfig from it.
import Foundation
import Testing
@testable import ModelFormats
import Quantization

func le<T: FixedWidthInteger>(_ x: T) -> [UInt8] { withUnsafeBytes(of: x.littleEndian) { Array($0) } }

func sampleWriter() -> GGUFTestWriter {
    var w = GGUFTestWriter()
    w.kv = [
        ("general.architecture", .string("llama")),
        ("u8", .uint8(200)), ("i8", .int8(-5)), ("u16", .uint16(60000)), ("i16", .int16(-30000)),
        ("u32", .uint32(4_000_000_000)), ("i32", .int32(-2_000_000_000)), ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))),
        ("f32", .float32(1.5)), ("f64", .float64(-2.25)), ("yes", .bool(true)), ("no", .bool(false)),
        ("name", .string("naïve 日本")),
        ("ints", .array([.int32(1), .int32(-2), .int32(3)])),
        ("words", .array([.string("a"), .string(""), .string("Ġhello")])),
        ("nested", .array([.array([.uint8(1), .uint8(2)]), .array([.uint8(3)])])),
    ]
    let f32Bytes = (0..<6).flatMap { i -> [UInt8] in le((Float(i) * 0.5 - 1).bitPattern) }
    var q8: [UInt8] = le(UInt16(0x3800))                                    // d = 0.5
    for j in 0..<32 { q8.append(UInt8(bitPattern: Int8(j - 16))) }
    w.tensors = [("a.weight", [3, 2], .f32, f32Bytes), ("b.weight", [32, 1], .q8_0, q8)]
    return w
}

@Suite struct GGUFFileTests {
    @Test func readsEveryValueTypeAndTensors() throws {
        let (bytes, _) = sampleWriter().bytes()
        let g = try GGUFFile(path: TempFiles.write(bytes, "ok.gguf"))
        #expect(g.version == 3 && g.alignment == 32)
        let m = g.metadata
        #expect(m["u8"] == .uint8(200) && m["i8"] == .int8(-5) && m["u16"] == .uint16(60000) && m["i16"] == .int16(-30000))
        #expect(m["u32"]?.int == 4_000_000_000 && m["i32"]?.int == -2_000_000_000)
        #expect(m["u64"]?.int == 1 << 40 && m["i64"]?.int == -(1 << 40))
        #expect(m["f32"]?.double == 1.5 && m["f64"]?.double == -2.25)
        #expect(m["yes"]?.bool == true && m["no"]?.bool == false)
        #expect(m["name"]?.string == "naïve 日本")
        #expect(m["ints"]?.ints == [1, -2, 3])
        #expect(m["words"]?.strings == ["a", "", "Ġhello"])
        #expect(m["nested"] == .array([.array([.uint8(1), .uint8(2)]), .array([.uint8(3)])]))
        #expect(g.metadataKeys.first == "general.architecture")
        #expect(g.tensors.map(\.name) == ["a.weight", "b.weight"])
        let a = try #require(g.tensor(named: "a.weight"))
        #expect(a.dimensions == [3, 2] && a.shape == [2, 3] && a.type == .f32 && a.byteCount == 24)
        #expect(try g.floats("a.weight") == (0..<6).map { Float($0) * 0.5 - 1 })
        #expect(try g.floats("b.weight") == (0..<32).map { 0.5 * Float($0 - 16) })
        #expect(g.floats(a, rows: 1..<2) == [0.5, 1, 1.5])
    }

    @Test func customAlignmentAndVersion2() throws {
        var w = sampleWriter()
        w.alignment = 64; w.version = 2
        w.kv.append(("general.alignment", .uint32(64)))
        let g = try GGUFFile(path: TempFiles.write(w.bytes().data, "align64.gguf"))
        #expect(g.alignment == 64 && g.version == 2 && g.dataOffset % 64 == 0)
        #expect(try g.floats("b.weight")[0] == -8)
    }

    /// Expects exactly one GGUFError whose field mentions `field`.
    func expectRefused(_ bytes: [UInt8], _ name: String, field: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let path = TempFiles.write(bytes, name)
        do {
            _ = try GGUFFile(path: path)
            Issue.record("\(name) was accepted", sourceLocation: sourceLocation)
        } catch let e as GGUFError {
            #expect(e.path == path, sourceLocation: sourceLocation)
            #expect(e.field.contains(field), "\(e)", sourceLocation: sourceLocation)
            #expect(e.description.contains(path), sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    func patched(_ at: Int, _ new: [UInt8]) -> [UInt8] {
        var (b, _) = sampleWriter().bytes()
        b.replaceSubrange(at..<(at + new.count), with: new)
        return b
    }

    @Test func corruptFilesAreRefusedWithTheField() throws {
        let (good, off) = sampleWriter().bytes()
        expectRefused(Array("GGUG".utf8) + good.dropFirst(4), "magic.gguf", field: "magic")
        expectRefused(patched(4, le(UInt32(1))), "v1.gguf", field: "version")
        expectRefused(patched(4, le(UInt32(4))), "v4.gguf", field: "version")
        expectRefused(patched(8, le(UInt64(1 << 50))), "ntensors.gguf", field: "tensor_count")
        expectRefused(patched(16, le(UInt64(1 << 50))), "nkv.gguf", field: "metadata_kv_count")
        // a key whose string length runs past the end
        expectRefused(patched(off["kv.u8"]!, le(UInt64(1 << 40))), "keylen.gguf", field: "key")
        // value type 13 does not exist
        expectRefused(patched(off["kv.u8"]! + 8 + 2, le(UInt32(13))), "valtype.gguf", field: "u8.type")
        // string value length past the end
        expectRefused(patched(off["kv.name"]! + 8 + 4 + 4, le(UInt64(1 << 40))), "strlen.gguf", field: "name")
        // array count past the end
        expectRefused(patched(off["kv.ints"]! + 8 + 4 + 4 + 4, le(UInt64(1 << 40))), "arrlen.gguf", field: "ints")
        expectRefused(patched(off["tensor.a.weight.n_dims"]!, le(UInt32(5))), "ndims.gguf", field: "n_dims")
        expectRefused(patched(off["tensor.a.weight.n_dims"]!, le(UInt32(0))), "ndims0.gguf", field: "n_dims")
        expectRefused(patched(off["tensor.a.weight.dims"]!, le(UInt64(1) << 62)), "dim.gguf", field: "dims")
        expectRefused(patched(off["tensor.a.weight.dims"]!, le(UInt64(1) << 30)), "dimbig.gguf", field: "dims")
        expectRefused(patched(off["tensor.a.weight.type"]!, le(UInt32(99))), "type.gguf", field: "type")
        expectRefused(patched(off["tensor.b.weight.dims"]!, le(UInt64(31))), "block.gguf", field: "dims[0]")
        expectRefused(patched(off["tensor.b.weight.offset"]!, le(UInt64(1 << 40))), "offset.gguf", field: "offset")
        expectRefused(patched(off["tensor.b.weight.offset"]!, le(UInt64(33))), "unaligned.gguf", field: "offset")
        expectRefused(patched(off["tensor.b.weight.offset"]!, le(UInt64(64))), "pastend.gguf", field: "offset")
        var bad = sampleWriter(); bad.kv.append(("general.alignment", .uint32(48)))
        expectRefused(bad.bytes().data, "align.gguf", field: "general.alignment")
        expectRefused([], "empty.gguf", field: "magic")
    }

    @Test func everyTruncationIsRefusedNotCrashed() throws {
        let (good, off) = sampleWriter().bytes()
        // every prefix shorter than the last tensor's end must be refused with a GGUFError
        let end = off["data"]! + 32 + 34     // b.weight (34 bytes) starts at data offset 32
        for n in stride(from: 0, to: end, by: 1) {
            let path = TempFiles.write(Array(good.prefix(n)), "trunc.gguf")
            #expect(throws: GGUFError.self, "prefix \(n)") { _ = try GGUFFile(path: path) }
        }
    }

    @Test func everySingleBytePatchIsReadOrRefusedNotCrashed() throws {
        let (good, off) = sampleWriter().bytes()
        var refused = 0
        for pos in 0..<off["data"]! {
            for v: UInt8 in [0x00, 0x7F, 0xFF] where good[pos] != v {
                var b = good
                b[pos] = v
                let path = TempFiles.write(b, "patch.gguf")
                do { let g = try GGUFFile(path: path); for t in g.tensors { _ = g.floats(t) } }
                catch is GGUFError { refused += 1 }
            }
        }
        #expect(refused > 100)
    }

    static let modelPath: String = {
        let home = ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
        return home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }()

    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelPath), "SmolLM2 GGUF not found"))
    func smolLM2MatchesGGUFPy() throws {
        let g = try GGUFFile(path: Self.modelPath)
        #expect(g.version == 3 && g.tensors.count == 272)
        #expect(g.metadata.count == 33, "\(g.metadataKeys)")
        #expect(g.metadata["general.architecture"]?.string == "llama")
        #expect(g.metadata["llama.block_count"]?.int == 30)
        #expect(g.metadata["tokenizer.ggml.tokens"]?.array?.count == 49152)
        #expect(g.metadata["tokenizer.ggml.merges"]?.array?.count == 48900)
        let golden = try fixtureJSON("ggml_blocks.json")["smollm2"] as! [String: [String: Any]]
        for (name, want) in golden {
            let info = try #require(g.tensor(named: name))
            #expect(info.type.description == want["type"] as! String)
            let v = g.floats(info)
            #expect(v.count == want["count"] as! Int)
            // gguf-py may compute in float64; its values rounded to Float must be ours exactly
            #expect(Array(v.prefix(8)) == (want["first"] as! [Double]).map(Float.init), "\(name)")
            #expect(Array(v.suffix(8)) == (want["last"] as! [Double]).map(Float.init), "\(name)")
            let sum = v.reduce(0.0) { $0 + Double($1) }, wantSum = want["sum"] as! Double
            #expect(abs(sum - wantSum) <= 1e-6 * (want["abs_sum"] as! Double), "\(name): \(sum) vs \(wantSum)")
        }
    }

    static let gemmaPath: String = {
        let home = ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
        return home + "/models/gemma-3-270m-q4_k_m.gguf"
    }()

    @Test func fiveBitBlocksMatchGGUFPy() throws {
        let blocks = try fixtureJSON("ggml_blocks_5bit.json")["blocks"] as! [[String: Any]]
        #expect(blocks.map { $0["type"] as! String } == ["Q5_0", "Q5_1", "Q5_K"])
        for b in blocks {
            let type = try #require(GGMLType.allCases.first { $0.description == b["type"] as! String })
            let bytes = (b["bytes"] as! [Int]).map(UInt8.init)
            let want = (b["values"] as! [Double]).map(Float.init)
            #expect(want.count == 3 * type.traits.blockSize)
            #expect(GGMLDecoder.decodeReference(type, bytes: bytes, count: want.count) == want, "\(type) reference")
            #expect(GGMLDecoder.decode(type, bytes: bytes, count: want.count) == want, "\(type) fast")
        }
    }

    /// One tensor of each type of the Gemma 3 270M file (Q5_0, Q4_K, Q6_K, Q8_0, F32) against gguf-py.
    @Test func gemma3TensorsMatchGGUFPy() throws {
        guard FileManager.default.fileExists(atPath: Self.gemmaPath) else {
            print("skipped: Gemma 3 270M GGUF not found at \(Self.gemmaPath) (bash Scripts/setup fetches it)")
            return
        }
        let g = try GGUFFile(path: Self.gemmaPath)
        #expect(g.metadata["general.architecture"]?.string == "gemma3" && g.tensors.count == 236)
        let golden = try fixtureJSON("ggml_blocks_5bit.json")["gemma3"] as! [String: [String: Any]]
        #expect(Set(golden.values.map { $0["type"] as! String }) == ["Q5_0", "Q4_K", "Q6_K", "Q8_0", "F32"])
        for (name, want) in golden {
            let info = try #require(g.tensor(named: name))
            #expect(info.type.description == want["type"] as! String)
            let v = g.floats(info)
            #expect(v.count == want["count"] as! Int)
            #expect(Array(v.prefix(8)) == (want["first"] as! [Double]).map(Float.init), "\(name)")
            #expect(Array(v.suffix(8)) == (want["last"] as! [Double]).map(Float.init), "\(name)")
            let sum = v.reduce(0.0) { $0 + Double($1) }, wantSum = want["sum"] as! Double
            #expect(abs(sum - wantSum) <= 1e-6 * (want["abs_sum"] as! Double), "\(name): \(sum) vs \(wantSum)")
        }
    }

    @Test func blocksMatchGGUFPy() throws {
        let blocks = try fixtureJSON("ggml_blocks.json")["blocks"] as! [[String: Any]]
        #expect(blocks.count == 7)
        for b in blocks {
            let type = try #require(GGMLType.allCases.first { $0.description == b["type"] as! String })
            let bytes = (b["bytes"] as! [Int]).map(UInt8.init)
            let want = (b["values"] as! [Double]).map(Float.init)
            #expect(GGMLDecoder.decodeReference(type, bytes: bytes, count: want.count) == want, "\(type) reference")
            #expect(GGMLDecoder.decode(type, bytes: bytes, count: want.count) == want, "\(type) fast")
        }
    }
}

func fixtureJSON(_ name: String) throws -> [String: Any] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}
