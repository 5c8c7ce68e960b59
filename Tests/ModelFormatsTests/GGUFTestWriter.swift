// A tiny GGUF writer for tests only: builds small valid files that tests then truncate or patch.
import Foundation
@testable import ModelFormats
import Quantization

struct GGUFTestWriter {
    var version: UInt32 = 3
    var alignment = 32
    var kv: [(String, GGUFValue)] = []
    var tensors: [(name: String, dims: [Int], type: GGMLType, data: [UInt8])] = []

    static func typeId(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: 0; case .int8: 1; case .uint16: 2; case .int16: 3; case .uint32: 4; case .int32: 5
        case .float32: 6; case .bool: 7; case .string: 8; case .array: 9; case .uint64: 10; case .int64: 11; case .float64: 12
        }
    }

    func le<T: FixedWidthInteger>(_ x: T) -> [UInt8] { withUnsafeBytes(of: x.littleEndian) { Array($0) } }
    func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    func payload(_ v: GGUFValue) -> [UInt8] {
        switch v {
        case .uint8(let x): le(x)
        case .int8(let x): le(x)
        case .uint16(let x): le(x)
        case .int16(let x): le(x)
        case .uint32(let x): le(x)
        case .int32(let x): le(x)
        case .uint64(let x): le(x)
        case .int64(let x): le(x)
        case .float32(let x): le(x.bitPattern)
        case .float64(let x): le(x.bitPattern)
        case .bool(let b): [b ? 1 : 0]
        case .string(let s): str(s)
        case .array(let a):
            le(a.first.map(Self.typeId) ?? 0) + le(UInt64(a.count)) + a.flatMap(payload)
        }
    }

    /// The file bytes, and the byte offsets of some fields for patching.
    func bytes() -> (data: [UInt8], offsets: [String: Int]) {
        var b: [UInt8] = Array("GGUF".utf8) + le(version) + le(UInt64(tensors.count)) + le(UInt64(kv.count))
        var offsets: [String: Int] = [:]
        for (k, v) in kv {
            offsets["kv.\(k)"] = b.count
            b += str(k) + le(Self.typeId(v)) + payload(v)
        }
        var dataOffsets: [Int] = [], cursor = 0
        for t in tensors {
            dataOffsets.append(cursor)
            cursor += (t.data.count + alignment - 1) / alignment * alignment
        }
        for (i, t) in tensors.enumerated() {
            offsets["tensor.\(t.name)"] = b.count
            b += str(t.name)
            offsets["tensor.\(t.name).n_dims"] = b.count
            b += le(UInt32(t.dims.count))
            offsets["tensor.\(t.name).dims"] = b.count
            for d in t.dims { b += le(UInt64(d)) }
            offsets["tensor.\(t.name).type"] = b.count
            b += le(t.type.rawValue)
            offsets["tensor.\(t.name).offset"] = b.count
            b += le(UInt64(dataOffsets[i]))
        }
        while b.count % alignment != 0 { b.append(0) }
        offsets["data"] = b.count
        for t in tensors {
            b += t.data
            while (b.count - offsets["data"]!) % alignment != 0 { b.append(0) }
        }
        return (b, offsets)
    }
}

enum TempFiles {
    static let dir: String = {
        let d = NSTemporaryDirectory() + "autore-formats-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    static func write(_ bytes: [UInt8], _ name: String) -> String {
        let p = dir + "/" + name
        guard FileManager.default.createFile(atPath: p, contents: Data(bytes)) else { fatalError("cannot write \(p)") }
        return p
    }
}
