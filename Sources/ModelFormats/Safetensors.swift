// safetensors reader (memory-mapped) and writer for F32, F16 and BF16 tensors, plus sharded checkpoints
// through `model.safetensors.index.json`. Not a PEFT adapter loader (Checkpoint*/adapter files do that).
//
// Format (huggingface/safetensors README): u64 little-endian header size N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}, then data.

import Foundation
import Quantization
import Support

/// One precise reason why a safetensors file was refused, naming the file and the field.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var field: String
    public var reason: String
    public var description: String { "\(path): safetensors field '\(field)': \(reason)" }
}

/// Element types we read and write.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16"
    public var byteSize: Int { self == .f32 ? 4 : 2 }
    var ggml: GGMLType { switch self { case .f32: .f32; case .f16: .f16; case .bf16: .bf16 } }
}

public struct SafetensorsTensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: SafetensorsDType
    /// Row-major shape.
    public var shape: [Int]
    /// Byte range relative to the start of the data section.
    public var dataOffsets: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped `.safetensors` file.
///
///     let st = try SafetensorsFile(path: "model.safetensors")
///     let w = try st.floats("model.embed_tokens.weight")      // Float32, row-major
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [SafetensorsTensorInfo]          // in data order
    public let metadata: [String: String]
    public let dataOffset: Int
    private let index: [String: Int]
    private let data: Data

    public init(path: String) throws {
        self.path = path
        func fail(_ field: String, _ reason: String) -> SafetensorsError { SafetensorsError(path: path, field: field, reason: reason) }
        let d: Data
        do { d = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) }
        catch { throw fail("file", "cannot read (\(error.localizedDescription))") }
        data = d
        guard d.count >= 8 else { throw fail("header size", "file has \(d.count) bytes, fewer than the 8-byte header size") }
        let n = d.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(d.count - 8) else { throw fail("header size", "header of \(n) bytes runs past the end of the \(d.count)-byte file") }
        guard n <= 100_000_000 else { throw fail("header size", "header of \(n) bytes is absurdly large") }
        dataOffset = 8 + Int(n)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: d.subdata(in: 8..<dataOffset)) }
        catch { throw fail("header", "not valid JSON (\(error.localizedDescription))") }
        guard let obj = json as? [String: Any] else { throw fail("header", "not a JSON object") }
        var meta: [String: String] = [:]
        if let m = obj["__metadata__"] {
            guard let mm = m as? [String: Any] else { throw fail("__metadata__", "not an object") }
            for (k, v) in mm {
                guard let s = v as? String else { throw fail("__metadata__.\(k)", "value is not a string") }
                meta[k] = s
            }
        }
        metadata = meta
        let dataSize = d.count - dataOffset
        var infos: [SafetensorsTensorInfo] = []
        for (name, v) in obj where name != "__metadata__" {
            guard let t = v as? [String: Any] else { throw fail(name, "not an object") }
            guard let ds = t["dtype"] as? String else { throw fail("\(name).dtype", "missing") }
            guard let dtype = SafetensorsDType(rawValue: ds) else { throw fail("\(name).dtype", "unsupported dtype \(ds) (F32, F16, BF16 are read)") }
            guard let shapeAny = t["shape"] as? [Any], let shape = shapeAny as? [Int], shape.count == shapeAny.count else {
                throw fail("\(name).shape", "missing or not a list of integers")
            }
            guard shape.count <= 8, shape.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) }) else { throw fail("\(name).shape", "absurd shape \(shape)") }
            var count = 1
            for s in shape {
                let (c, o) = count.multipliedReportingOverflow(by: s)
                guard !o, c <= dataSize else { throw fail("\(name).shape", "shape \(shape) holds more elements than the file has bytes") }
                count = c
            }
            guard let offs = t["data_offsets"] as? [Int], offs.count == 2 else { throw fail("\(name).data_offsets", "missing or not two integers") }
            guard offs[0] >= 0, offs[0] <= offs[1], offs[1] <= dataSize else {
                throw fail("\(name).data_offsets", "[\(offs[0]), \(offs[1])) is outside the \(dataSize)-byte data section")
            }
            guard offs[1] - offs[0] == count * dtype.byteSize else {
                throw fail("\(name).data_offsets", "\(offs[1] - offs[0]) bytes for shape \(shape) of \(ds) (expected \(count * dtype.byteSize))")
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: offs[0]..<offs[1]))
        }
        infos.sort { ($0.dataOffsets.lowerBound, $0.name) < ($1.dataOffsets.lowerBound, $1.name) }
        for (a, b) in zip(infos, infos.dropFirst()) where a.dataOffsets.upperBound > b.dataOffsets.lowerBound {
            throw fail("\(b.name).data_offsets", "overlaps tensor '\(a.name)'")
        }
        tensors = infos
        index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// Decodes a tensor to Float32.
    public func floats(_ info: SafetensorsTensorInfo) -> [Float] {
        data.withUnsafeBytes { raw in
            let src = UnsafeRawBufferPointer(rebasing: raw[(dataOffset + info.dataOffsets.lowerBound)..<(dataOffset + info.dataOffsets.upperBound)])
            return [Float](unsafeUninitializedCapacity: info.elementCount) { buf, n in
                GGMLDecoder.decode(info.dtype.ggml, src, count: info.elementCount, into: buf)
                n = info.elementCount
            }
        }
    }

    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensor(named: name) else { throw SafetensorsError(path: path, field: name, reason: "no such tensor") }
        return floats(info)
    }

    /// Raw little-endian bytes of a tensor (copied).
    public func bytes(_ info: SafetensorsTensorInfo) -> [UInt8] {
        [UInt8](data[(dataOffset + info.dataOffsets.lowerBound)..<(dataOffset + info.dataOffsets.upperBound)])
    }
}

/// A tensor to write: Float32 values converted to `dtype` (round-to-nearest-even for F16/BF16).
public struct SafetensorsTensor {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, dtype: SafetensorsDType = .f32, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) does not hold \(values.count) values")
        self.name = name; self.dtype = dtype; self.shape = shape; self.values = values
    }
}

public enum SafetensorsWriter {
    /// Writes tensors (in the given order) and string metadata, atomically (`AtomicFile`): a failed or
    /// killed write leaves the previous file whole.
    public static func write(_ tensors: [SafetensorsTensor], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            let n = t.values.count * t.dtype.byteSize
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + n]] as [String: Any]
            offset += n
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data section starts 8-byte aligned (as the reference writer does).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for t in tensors {
            switch t.dtype {
            case .f32:
                t.values.withUnsafeBytes { out.append(contentsOf: $0) }
            case .f16:
                let h = t.values.map(floatToHalf)
                h.withUnsafeBytes { out.append(contentsOf: $0) }
            case .bf16:
                let h = t.values.map(floatToBF16)
                h.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        do { try AtomicFile.write(out, to: path) } catch let e as FileWriteError {
            throw SafetensorsError(path: path, field: "file", reason: e.reason)
        }
    }
}

/// Float → bf16 bits, round to nearest even; NaN stays NaN.
public func floatToBF16(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let b = x.bitPattern
    return UInt16((b + 0x7FFF + ((b >> 16) & 1)) >> 16)
}

/// Float → fp16 bits, round to nearest even, overflow to ±inf, subnormals kept.
public func floatToHalf(_ x: Float) -> UInt16 {
    let b = x.bitPattern
    let sign = UInt16((b >> 16) & 0x8000)
    if x.isNaN { return sign | 0x7E00 }
    let a = b & 0x7FFF_FFFF
    if a >= 0x4780_0000 {            // ≥ 65536 (rounds past the largest half 65504 → inf)
        // values in [65520, 65536) also round to inf; handled by the general path below when < 0x47800000
        return sign | 0x7C00
    }
    if a < 0x3880_0000 {             // below the smallest normal half 2^-14: subnormal or zero
        let f = Float(bitPattern: a) * Float(bitPattern: 0x4B80_0000)   // × 2^24: value in units of 2^-24
        return sign | UInt16(f.rounded(.toNearestOrEven))
    }
    // normal: rebias exponent (127 → 15), round the 13 dropped mantissa bits to nearest even
    let r = a &- 0x3800_0000
    let rounded = (r + 0x0FFF + ((r >> 13) & 1)) >> 13
    return sign | UInt16(min(rounded, 0x7C00))
}

/// A checkpoint split into shards listed by `model.safetensors.index.json` (`weight_map`: name → file),
/// or a single `model.safetensors`. Shards are opened on first use.
///
///     let ckpt = try SafetensorsCheckpoint(directory: "Llama-2-7b-hf")
///     let w = try ckpt.floats("model.layers.0.self_attn.q_proj.weight")
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    /// Tensor name → shard file name.
    public let weightMap: [String: String]
    private var shards: [String: SafetensorsFile] = [:]
    private let lock = NSLock()

    public init(directory: String) throws {
        self.directory = directory
        let indexPath = directory + "/model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: indexPath) {
            func fail(_ field: String, _ reason: String) -> SafetensorsError { SafetensorsError(path: indexPath, field: field, reason: reason) }
            guard let d = FileManager.default.contents(atPath: indexPath) else { throw fail("file", "cannot read") }
            guard let obj = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else { throw fail("file", "not a JSON object") }
            guard let wm = obj["weight_map"] as? [String: String] else { throw fail("weight_map", "missing or not an object of strings") }
            for (name, file) in wm where file.contains("/") || file.hasPrefix(".") {
                throw fail("weight_map.\(name)", "shard name \(file) leaves the directory")
            }
            weightMap = wm
        } else {
            let single = directory + "/model.safetensors"
            let f = try SafetensorsFile(path: single)
            shards["model.safetensors"] = f
            weightMap = Dictionary(uniqueKeysWithValues: f.tensors.map { ($0.name, "model.safetensors") })
        }
    }

    public var tensorNames: [String] { weightMap.keys.sorted() }

    public func shard(_ file: String) throws -> SafetensorsFile {
        lock.lock(); defer { lock.unlock() }
        if let f = shards[file] { return f }
        let f = try SafetensorsFile(path: directory + "/" + file)
        shards[file] = f
        return f
    }

    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let file = weightMap[name] else { throw SafetensorsError(path: directory, field: name, reason: "no such tensor in the checkpoint") }
        let f = try shard(file)
        guard let info = f.tensor(named: name) else {
            throw SafetensorsError(path: f.path, field: name, reason: "listed in the index but missing from the shard")
        }
        return info
    }

    public func floats(_ name: String) throws -> [Float] {
        let i = try info(name)
        return try shard(weightMap[name]!).floats(i)
    }
}
