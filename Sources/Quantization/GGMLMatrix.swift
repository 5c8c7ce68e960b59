// A frozen weight kept in its GGML blocks (as a GGUF file stores it): row-major (out, in), each row a whole
// number of blocks. Decoding to Float32 happens block by block inside the products (QuantizedProducts.swift),
// never for the whole matrix. Not an encoder: the blocks come from a file.
import Autograd
import Foundation

/// The bytes of a GGMLMatrix, 64-byte aligned; shared by copies of the matrix.
final class BlockBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
}

/// A row-major (rows = out, columns = in) weight in one GGML type, each row `columns / blockSize` blocks.
///
///     let w = try GGMLMatrix(type: .q4_1, rows: 576, columns: 576, bytes: raw)   // raw: the tensor's bytes
///     let y = try ggmlLinear(x, weight: w)                                         // x (…, 576) → (…, 576)
///     let back = w.dequantized()                                                   // [Float], rows × columns
public struct GGMLMatrix: Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    /// Bytes of one row: columns / blockSize blocks.
    public let rowBytes: Int
    let storage: BlockBytes
    /// The decoded weight, when `keepDequantizedCopy(true)` made it; shared by copies of this matrix.
    let dense: DenseCopy

    public var count: Int { rows * columns }
    /// Bytes held (the blocks).
    public var byteCount: Int { rows * rowBytes }
    /// The blocks of row r start at `blocks + r·rowBytes`.
    public var blocks: UnsafeRawPointer { UnsafeRawPointer(storage.pointer) }

    /// Copies `bytes` (rows × columns elements of `type`, row-major as GGUF stores a 2-D tensor). With
    /// `rowOrder`, row r of the matrix is row `rowOrder[r]` of `bytes` (e.g. llama.cpp's q/k permutation undone).
    public init(type: GGMLType, rows: Int, columns: Int, bytes: UnsafeRawBufferPointer, rowOrder: [Int]? = nil) throws {
        let t = type.traits
        guard rows > 0, columns > 0 else { throw TensorError("GGMLMatrix: \(rows)×\(columns) is empty") }
        guard columns % t.blockSize == 0 else {
            throw TensorError("GGMLMatrix: \(columns) columns of \(type) are not a whole number of \(t.blockSize)-element blocks")
        }
        let rowBytes = columns / t.blockSize * t.bytesPerBlock
        guard bytes.count == rows * rowBytes else {
            throw TensorError("GGMLMatrix: \(bytes.count) bytes for \(rows)×\(columns) \(type), expected \(rows * rowBytes)")
        }
        if let rowOrder {
            guard rowOrder.count == rows, Set(rowOrder) == Set(0..<rows) else {
                throw TensorError("GGMLMatrix: the row order is not a permutation of 0..<\(rows)")
            }
        }
        self.type = type; self.rows = rows; self.columns = columns; self.rowBytes = rowBytes
        storage = BlockBytes(count: rows * rowBytes)
        dense = DenseCopy()
        let src = bytes.baseAddress!
        if let rowOrder {
            for r in 0..<rows { (storage.pointer + r * rowBytes).copyMemory(from: src + rowOrder[r] * rowBytes, byteCount: rowBytes) }
        } else {
            storage.pointer.copyMemory(from: src, byteCount: rows * rowBytes)
        }
    }

    public init(type: GGMLType, rows: Int, columns: Int, bytes: [UInt8], rowOrder: [Int]? = nil) throws {
        self = try bytes.withUnsafeBytes { try GGMLMatrix(type: type, rows: rows, columns: columns, bytes: $0, rowOrder: rowOrder) }
    }

    /// Keeps (or drops) a Float32 copy of this weight that products of more than 16 rows and input
    /// gradients read instead of decoding tiles (the same values; decoding steps keep the fused kernels).
    public func keepDequantizedCopy(_ on: Bool) {
        if on { dense.make(count: count) { dequantize(rows: 0..<rows, into: $0) } } else { dense.drop() }
    }

    /// Rows `r` decoded into `out` (row-major, (r.count, columns)).
    public func dequantize(rows r: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(r.lowerBound >= 0 && r.upperBound <= rows, "GGMLMatrix: rows \(r) outside 0..<\(rows)")
        GGMLDecoder.decode(type, UnsafeRawBufferPointer(start: blocks + r.lowerBound * rowBytes, count: r.count * rowBytes),
                           count: r.count * columns, into: UnsafeMutableBufferPointer(start: out, count: r.count * columns))
    }

    /// Columns `c` (block-aligned) of row `r` decoded into `out`.
    public func dequantize(row r: Int, columns c: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let t = type.traits
        let start = blocks + r * rowBytes + c.lowerBound / t.blockSize * t.bytesPerBlock
        GGMLDecoder.decode(type, UnsafeRawBufferPointer(start: start, count: c.count / t.blockSize * t.bytesPerBlock),
                           count: c.count, into: UnsafeMutableBufferPointer(start: out, count: c.count))
    }

    /// All elements, row-major.
    public func dequantized() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            dequantize(rows: 0..<rows, into: buf.baseAddress!)
            n = count
        }
    }
}
