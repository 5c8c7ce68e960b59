// GGUF reader: header, metadata, tensor infos, and lazily decoded tensor data from a memory-mapped file.
// Not a writer, and not a model builder (ModelConfig and the llama permutation are separate files).
//
// Format: ggml docs/gguf.md. All integers little-endian; strings are (uint64 length, UTF-8 bytes).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Quantization

/// One precise reason why a GGUF file was refused, naming the file and the field.
public struct GGUFError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var field: String
    public var reason: String
    public var description: String { "\(path): GGUF field '\(field)': \(reason)" }
}

/// GGUF metadata value types (`enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7,
         string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

/// A metadata value. Arrays keep their element values in order.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer value as Int (nil for non-integers or a UInt64 above Int.max).
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): Int(v)
        default: nil
        }
    }
    /// Any numeric value as Double.
    public var double: Double? {
        switch self {
        case .float32(let v): Double("\(v)") ?? Double(v)   // shortest decimal: 1e-5 stays 1e-5, not 9.99999974e-6
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }
    public var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    public var string: String? { if case .string(let v) = self { v } else { nil } }
    public var array: [GGUFValue]? { if case .array(let v) = self { v } else { nil } }
    public var strings: [String]? { array?.compactMap(\.string) }
    public var ints: [Int]? { array?.compactMap(\.int) }
    public var doubles: [Double]? { array?.compactMap(\.double) }

    public var description: String {
        switch self {
        case .string(let s): s.count > 80 ? "\"\(s.prefix(77))…\" (\(s.utf8.count) bytes)" : "\"\(s)\""
        case .array(let a): a.count > 8 ? "[\(a.prefix(4).map(\.description).joined(separator: ", ")), … (\(a.count) values)]"
                                        : "[\(a.map(\.description).joined(separator: ", "))]"
        case .bool(let b): "\(b)"
        case .float32(let v): "\(v)"
        case .float64(let v): "\(v)"
        default: "\(int.map(String.init) ?? "?")"
        }
    }
}

/// One tensor's entry in the GGUF tensor-info table.
public struct GGUFTensorInfo: Sendable, Equatable {
    public var name: String
    /// GGML order: `dimensions[0]` (ne0) is the fastest-moving (contiguous) one.
    public var dimensions: [Int]
    public var type: GGMLType
    /// Byte offset from the start of the data section (a multiple of the alignment).
    public var offset: Int
    public var elementCount: Int
    public var byteCount: Int
    /// Row-major (PyTorch) order: the reverse of `dimensions`, e.g. (out, in) for a weight matrix.
    public var shape: [Int] { dimensions.reversed() }
}

/// A memory-mapped GGUF file. Tensor bytes are read only when asked for.
///
///     let gguf = try GGUFFile(path: "model.gguf")
///     let arch = gguf.metadata["general.architecture"]?.string     // "llama"
///     let w = try gguf.floats("blk.0.attn_q.weight")                // [Float], decoded lazily
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    /// Metadata in file order, and by key.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    public let fileSize: Int
    private let tensorIndex: [String: Int]
    private let base: UnsafeRawPointer
    private let mappedLength: Int

    /// Largest dimension count ggml supports (GGML_MAX_DIMS).
    public static let maxDimensions = 4
    static let magic: UInt32 = 0x4655_4747   // "GGUF" read as little-endian uint32

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError(path: path, field: "file", reason: "cannot open (errno \(errno))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GGUFError(path: path, field: "file", reason: "cannot stat (errno \(errno))") }
        let size = Int(st.st_size)
        fileSize = size
        guard size > 0 else { throw GGUFError(path: path, field: "magic", reason: "file is empty") }
        guard let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw GGUFError(path: path, field: "file", reason: "mmap failed (errno \(errno))")
        }
        base = UnsafeRawPointer(m)
        mappedLength = size
        do {
            var r = ByteReader(base: base, count: size, path: path)
            let magic = try r.u32("magic")
            guard magic == Self.magic else {
                throw GGUFError(path: path, field: "magic", reason: "expected \"GGUF\", found 0x\(String(magic, radix: 16))")
            }
            let v = try r.u32("version")
            guard v == 2 || v == 3 else { throw GGUFError(path: path, field: "version", reason: "unsupported version \(v) (2 and 3 are read)") }
            version = Int(v)
            // Each tensor info takes ≥ 8+4+8+4+8 bytes and each key/value ≥ 8+4+1: bound the counts by the file.
            let nTensors = try r.u64("tensor_count")
            guard nTensors <= UInt64(size / 32) else { throw GGUFError(path: path, field: "tensor_count", reason: "\(nTensors) tensors cannot fit in \(size) bytes") }
            let nKV = try r.u64("metadata_kv_count")
            guard nKV <= UInt64(size / 13) else { throw GGUFError(path: path, field: "metadata_kv_count", reason: "\(nKV) entries cannot fit in \(size) bytes") }
            var keys: [String] = [], meta: [String: GGUFValue] = [:]
            keys.reserveCapacity(Int(nKV))
            for i in 0..<Int(nKV) {
                let key = try r.string("metadata[\(i)].key")
                let tRaw = try r.u32("\(key).type")
                guard let t = GGUFValueType(rawValue: tRaw) else { throw GGUFError(path: path, field: "\(key).type", reason: "unknown value type \(tRaw)") }
                let value = try r.value(t, field: key, depth: 0)
                if meta.updateValue(value, forKey: key) != nil { throw GGUFError(path: path, field: key, reason: "duplicate key") }
                keys.append(key)
            }
            metadataKeys = keys
            metadata = meta
            if let a = meta["general.alignment"] {
                guard let ai = a.int, ai > 0, ai & (ai - 1) == 0, ai <= 1 << 20 else {
                    throw GGUFError(path: path, field: "general.alignment", reason: "must be a power of two, found \(a)")
                }
                alignment = ai
            } else {
                alignment = 32
            }
            var infos: [GGUFTensorInfo] = []
            infos.reserveCapacity(Int(nTensors))
            for i in 0..<Int(nTensors) {
                let name = try r.string("tensor[\(i)].name")
                let f = "tensor '\(name)'"
                let nd = try r.u32("\(f).n_dims")
                guard nd >= 1, nd <= UInt32(Self.maxDimensions) else {
                    throw GGUFError(path: path, field: "\(f).n_dims", reason: "\(nd) dimensions (1…\(Self.maxDimensions) allowed)")
                }
                var dims: [Int] = [], count = 1
                for d in 0..<Int(nd) {
                    let n = try r.u64("\(f).dims[\(d)]")
                    guard n <= UInt64(Int32.max) else { throw GGUFError(path: path, field: "\(f).dims[\(d)]", reason: "absurd size \(n)") }
                    let (c, o) = count.multipliedReportingOverflow(by: Int(n))
                    guard !o, c <= size * 8 else { throw GGUFError(path: path, field: "\(f).dims", reason: "element count overflows the file") }
                    dims.append(Int(n)); count = c
                }
                let tRaw = try r.u32("\(f).type")
                guard let type = GGMLType(rawValue: tRaw) else {
                    throw GGUFError(path: path, field: "\(f).type", reason: "unknown or unsupported ggml type \(tRaw)")
                }
                guard dims[0] % type.traits.blockSize == 0, let bytes = type.byteCount(elements: count) else {
                    throw GGUFError(path: path, field: "\(f).dims[0]", reason: "\(dims[0]) is not a multiple of the \(type) block size \(type.traits.blockSize)")
                }
                let off = try r.u64("\(f).offset")
                guard off <= UInt64(size) else { throw GGUFError(path: path, field: "\(f).offset", reason: "offset \(off) is past the end of the file") }
                infos.append(GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: Int(off), elementCount: count, byteCount: bytes))
            }
            let pad = (alignment - r.position % alignment) % alignment
            dataOffset = r.position + pad
            guard nTensors == 0 || dataOffset <= size else {
                throw GGUFError(path: path, field: "data", reason: "data section starts at \(dataOffset), past the end of the \(size)-byte file")
            }
            var index: [String: Int] = [:]
            for (i, t) in infos.enumerated() {
                let f = "tensor '\(t.name)'"
                guard t.offset % alignment == 0 else {
                    throw GGUFError(path: path, field: "\(f).offset", reason: "offset \(t.offset) is not a multiple of the alignment \(alignment)")
                }
                guard dataOffset + t.offset + t.byteCount <= size else {
                    throw GGUFError(path: path, field: "\(f).offset", reason: "data [\(t.offset), +\(t.byteCount)) runs past the end of the file (data section holds \(size - dataOffset) bytes)")
                }
                guard index.updateValue(i, forKey: t.name) == nil else { throw GGUFError(path: path, field: f, reason: "duplicate tensor name") }
            }
            tensors = infos
            tensorIndex = index
        } catch {
            munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
            throw error
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }

    public func tensor(named name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The raw bytes of a tensor, pointing into the mapping (valid while `self` lives).
    public func rawBytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataOffset + info.offset, count: info.byteCount)
    }

    /// Decodes a whole tensor to Float32 (row-major, `info.shape`).
    public func floats(_ info: GGUFTensorInfo) -> [Float] {
        [Float](unsafeUninitializedCapacity: info.elementCount) { buf, n in
            GGMLDecoder.decode(info.type, rawBytes(info), count: info.elementCount, into: buf)
            n = info.elementCount
        }
    }

    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensor(named: name) else { throw GGUFError(path: path, field: "tensor '\(name)'", reason: "no such tensor") }
        return floats(info)
    }

    /// Decodes rows `rows` of a 2-D (or higher) tensor, each `dimensions[0]` values: e.g. a few embedding rows.
    public func floats(_ info: GGUFTensorInfo, rows: Range<Int>) -> [Float] {
        let rowLen = info.dimensions[0]
        let rowBytes = info.type.byteCount(elements: rowLen)!
        precondition(rows.lowerBound >= 0 && rows.upperBound * rowLen <= info.elementCount, "rows \(rows) out of range for \(info.name)")
        let all = rawBytes(info)
        let src = UnsafeRawBufferPointer(rebasing: all[(rows.lowerBound * rowBytes)..<(rows.upperBound * rowBytes)])
        return [Float](unsafeUninitializedCapacity: rows.count * rowLen) { buf, n in
            GGMLDecoder.decode(info.type, src, count: rows.count * rowLen, into: buf)
            n = rows.count * rowLen
        }
    }
}

/// Bounds-checked little-endian reader; every failure names the field being read.
struct ByteReader {
    let base: UnsafeRawPointer
    let count: Int
    let path: String
    var position = 0

    mutating func take(_ n: Int, _ field: String) throws -> UnsafeRawPointer {
        guard n >= 0, n <= count - position else {
            throw GGUFError(path: path, field: field, reason: "needs \(n) bytes at offset \(position) but the file ends at \(count) (truncated?)")
        }
        defer { position += n }
        return base + position
    }
    mutating func load<T: FixedWidthInteger>(_: T.Type, _ field: String) throws -> T {
        T(littleEndian: try take(MemoryLayout<T>.size, field).loadUnaligned(as: T.self))
    }
    mutating func u32(_ f: String) throws -> UInt32 { try load(UInt32.self, f) }
    mutating func u64(_ f: String) throws -> UInt64 { try load(UInt64.self, f) }
    mutating func string(_ field: String) throws -> String {
        let n = try u64("\(field) (string length)")
        guard n <= UInt64(count - position) else {
            throw GGUFError(path: path, field: field, reason: "string length \(n) runs past the end of the file")
        }
        let p = try take(Int(n), field)
        return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(n)), as: UTF8.self)
    }

    mutating func value(_ t: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
        switch t {
        case .uint8: return .uint8(try load(UInt8.self, field))
        case .int8: return .int8(try load(Int8.self, field))
        case .uint16: return .uint16(try load(UInt16.self, field))
        case .int16: return .int16(try load(Int16.self, field))
        case .uint32: return .uint32(try load(UInt32.self, field))
        case .int32: return .int32(try load(Int32.self, field))
        case .uint64: return .uint64(try load(UInt64.self, field))
        case .int64: return .int64(try load(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self, field)))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self, field)))
        case .bool:
            let b = try load(UInt8.self, field)
            guard b <= 1 else { throw GGUFError(path: path, field: field, reason: "bool byte is \(b)") }
            return .bool(b == 1)
        case .string: return .string(try string(field))
        case .array:
            guard depth < 4 else { throw GGUFError(path: path, field: field, reason: "arrays nested too deeply") }
            let eRaw = try u32("\(field) (array element type)")
            guard let e = GGUFValueType(rawValue: eRaw) else { throw GGUFError(path: path, field: field, reason: "unknown array element type \(eRaw)") }
            let n = try u64("\(field) (array length)")
            let minBytes: UInt64 = switch e {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64, .string: 8
            case .array: 12
            }
            guard n <= UInt64(count - position) / minBytes else {
                throw GGUFError(path: path, field: field, reason: "array of \(n) values runs past the end of the file")
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { out.append(try value(e, field: field, depth: depth + 1)) }   // errors name the array
            return .array(out)
        }
    }
}
