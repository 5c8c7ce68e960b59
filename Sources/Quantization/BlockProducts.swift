// y = x·Wᵀ and dx = dy·W for a frozen weight held in blocks (NF4, GGML), written once for every format: up to
// 16 rows of x through the format's fused kernel (QuantizedProducts.swift); more rows by tiles of W decoded
// into per-thread scratch and multiplied by cblas_sgemm (single-threaded like every OpenBLAS call here, split
// over the pool), so a Float32 copy of the whole weight never exists unless one is kept on purpose.
// No weight gradient: these weights are frozen.
import Autograd
import CBLAS
import QuantizedKernels

/// A frozen row-major (rows = out, columns = in) weight whose rows decode block by block.
///
///     let y = try blockLinear(x, weight: nf4Weight, op: "nf4Linear")     // x (…, in) → (…, out)
public protocol BlockWeight: Sendable {
    var rows: Int { get }
    var columns: Int { get }
    /// The format, as errors name it ("NF4", "q4_1").
    var formatName: String { get }
    /// A column range decoded on its own starts and ends on a multiple of this (or at the row's end).
    var columnAlignment: Int { get }
    /// Rows `r` decoded into `out` (row-major, (r.count, columns)).
    func dequantize(rows r: Range<Int>, into out: UnsafeMutablePointer<Float>)
    /// Columns `c` (aligned) of row `r` decoded into `out`.
    func dequantize(row r: Int, columns c: Range<Int>, into out: UnsafeMutablePointer<Float>)
    /// y (m, rows) = x (m, columns) · Wᵀ by the format's fused kernel, for m ≤ maxProductRows; false (and y
    /// untouched) when this weight has none.
    func fusedProduct(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>,
                      instructions: KernelInstructionSet) -> Bool
    /// y (m, ids.count) = x (m, columns) · W[ids]ᵀ: only the outputs of the rows `ids`, each computed by the
    /// same fused kernel with the same m as `fusedProduct`, so equal bit for bit to those columns of it (a
    /// constrained decoding step needs the vocabulary head at its allowed tokens only). False (and y untouched)
    /// when this weight has no fused kernel.
    func fusedProduct(_ x: UnsafePointer<Float>, m: Int, rows ids: [Int], into y: UnsafeMutablePointer<Float>,
                      instructions: KernelInstructionSet) -> Bool
    /// A kept Float32 copy of the whole weight that the tiles read instead of decoding (the same values).
    var decodedCopy: UnsafePointer<Float>? { get }
}

/// The most rows of x the fused kernels take at once; more go through decoded tiles and sgemm.
public let fusedProductMaxRows = maxProductRows

/// Rows of W decoded per forward tile: about 64K floats, and at least 128 rows, since each tile's GEMM
/// re-packs all of x and a thin tile of a wide weight (7B's 14336 columns) would spend its time packing
/// (measured for x 512×14336: 32 GFLOP/s with 8-row tiles, 86 with 128). Past 512 rows of x the floor grows
/// with them (x no longer stays in cache between tiles, so each re-pack reads it from memory again).
@inline(__always) func forwardTileRows(rows: Int, columns: Int, n: Int) -> Int {
    max(1, min(rows, max(128 * max(1, n / 512), 65_536 / max(1, columns))))
}

/// y (N, out) = x (N, in) · Wᵀ.
///
/// N ≤ 16 (decoding): the fused kernel when the format has one, which never stores a decoded weight. Otherwise
/// tiles of W's rows, decoded (or read from a kept copy), each multiplied by cblas_sgemm.
public func blockMatmulForward<W: BlockWeight>(_ x: UnsafePointer<Float>, rows n: Int, _ w: W, into y: UnsafeMutablePointer<Float>,
                                               instructions: KernelInstructionSet = .current) {
    guard n > 0 else { return }
    if n <= maxProductRows && w.fusedProduct(x, m: n, into: y, instructions: instructions) { return }
    Threads.configureBLAS()
    let k = w.columns, m = w.rows
    let dense = w.decodedCopy
    let tile = forwardTileRows(rows: m, columns: k, n: n)
    let tiles = (m + tile - 1) / tile
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: dense == nil ? tile * k * max(1, min(Threads.count, tiles)) : 0)
    defer { scratch.deallocate() }
    parallelTasks(tiles) { t, worker in
        let r0 = t * tile, r1 = min(m, r0 + tile)
        let s: UnsafePointer<Float>
        if let dense { s = dense + r0 * k } else { w.dequantize(rows: r0..<r1, into: scratch + worker * tile * k); s = UnsafePointer(scratch + worker * tile * k) }
        // y[:, r0..<r1] = x · W[r0..<r1]ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(r1 - r0), Int32(k), 1,
                    x, Int32(k), s, Int32(k), 0, y + r0, Int32(m))
    }
}

/// dx (N, in) = dy (N, out) · W, by blocks of `in` columns: a task owns dx[:, c0..<c1] and adds the row tiles
/// dy[:, r0..<r1] · W[r0..<r1, c0..<c1] in row order, each tile decoded into per-thread scratch (or read in
/// place from a kept copy: the same values and the same GEMMs). No reduction across threads, so the result
/// is the same bits whichever worker runs which task. Blocks are about 256 columns wide (an efficient GEMM),
/// narrower when that gives fewer than two per thread, and aligned.
public func blockMatmulInputGradient<W: BlockWeight>(_ dy: UnsafePointer<Float>, rows n: Int, _ w: W, into dx: UnsafeMutablePointer<Float>) {
    guard n > 0 else { return }
    Threads.configureBLAS()
    let k = w.columns, m = w.rows, a = w.columnAlignment
    let wanted = max((k + 255) / 256, min(2 * Threads.count, (k + 63) / 64))
    let cw = min(k, max(a, ((k + wanted - 1) / wanted + a - 1) / a * a))
    let blocks = (k + cw - 1) / cw
    let tile = max(8, min(m, 65_536 / cw))
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tile * cw * max(1, min(Threads.count, blocks)))
    defer { scratch.deallocate() }
    let dense = w.decodedCopy
    parallelTasks(blocks) { b, worker in
        let c0 = b * cw, c1 = min(k, c0 + cw), width = c1 - c0, s = scratch + worker * tile * cw
        for r0 in stride(from: 0, to: m, by: tile) {
            let r1 = min(m, r0 + tile)
            let tileRows: UnsafePointer<Float>, ld: Int
            if let dense { tileRows = dense + r0 * k + c0; ld = k } else {
                for r in r0..<r1 { w.dequantize(row: r, columns: c0..<c1, into: s + (r - r0) * width) }
                tileRows = UnsafePointer(s); ld = width
            }
            // dx[:, c0..<c1] (+)= dy[:, r0..<r1] · W[r0..<r1, c0..<c1]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(width), Int32(r1 - r0), 1,
                        dy + r0, Int32(m), tileRows, Int32(ld), r0 == 0 ? 0 : 1, dx + c0, Int32(k))
        }
    }
}

/// y = x·Wᵀ for a frozen block weight, recorded on the tape (as `op`) with the input gradient only.
///
///     x: (…, in)   W: blocks (out, in)   →   (…, out);   dx = dy·W
public func blockLinear<W: BlockWeight>(_ x: Tensor, weight w: W, op: String) throws -> Tensor {
    guard x.shape.last == w.columns else {
        throw TensorError("\(op): input \(x.shape) does not end in the weight's \(w.columns) columns (\(w.formatName) weight \(w.rows)×\(w.columns))")
    }
    let n = x.count / w.columns
    let y = Tensor.uninitialized(Array(x.shape.dropLast()) + [w.rows])
    blockMatmulForward(x.data, rows: n, w, into: y.data)
    guard isRecording([x]) else { return y }
    let shape = x.shape
    return y.recorded(op, inputs: [x]) { dy in
        let dx = Tensor.uninitialized(shape)
        blockMatmulInputGradient(dy.data, rows: n, w, into: dx.data)
        return [dx]
    }
}
