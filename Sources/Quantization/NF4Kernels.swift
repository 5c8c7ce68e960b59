// y = x·Wᵀ and dx = dy·W straight from NF4 blocks: tiles of W are dequantised into a per-thread scratch and
// multiplied there (cblas_sgemm, single-threaded like every OpenBLAS call here), so a Float32 copy of the whole weight
// never exists; up to 16 rows of x go through the fused kernel instead (QuantizedProducts.swift). No weight
// gradient: the quantized base is frozen.
import Autograd
import CBLAS
import Foundation
import QuantizedKernels

/// Rows of W dequantised per forward tile: about 64K floats, and at least 128 rows, since each tile's GEMM
/// re-packs all of x and a thin tile of a wide weight (7B's 14336 columns) would spend its time packing
/// (measured for x 512×14336: 32 GFLOP/s with 8-row tiles, 86 with 128). Past 512 rows of x the floor grows
/// with them (x no longer stays in cache between tiles, so each re-pack reads it from memory again).
@inline(__always) func forwardTileRows(rows: Int, columns: Int, n: Int) -> Int {
    max(1, min(rows, max(128 * max(1, n / 512), 65_536 / max(1, columns))))
}
@inline(__always) func nf4TileRows(_ w: NF4Matrix, _ n: Int = 1) -> Int { forwardTileRows(rows: w.rows, columns: w.columns, n: n) }

/// y (N, out) = x (N, in) · Wᵀ.
public func nf4MatmulForward(_ x: UnsafePointer<Float>, rows n: Int, _ w: NF4Matrix, into y: UnsafeMutablePointer<Float>) {
    Threads.configureBLAS()
    let k = w.columns, m = w.rows
    // With a kept Float32 copy, every tile below reads its rows there instead of dequantising them again:
    // the same values in the same products.
    let dense = w.dense.current
    // Decoding (at most 16 rows) with whole 64-element blocks per row: the fused kernel, which reads the codes
    // whether or not a Float32 copy is kept (the same products either way).
    if n <= maxProductRows && k % NF4Matrix.blockSize == 0 {
        nf4FusedProduct(x, m: n, w, into: y)
        return
    }
    if n == 1 {   // decoding: one dequantised row at a time, dotted with x
        let chunk = 64
        parallelTasks((m + chunk - 1) / chunk) { task, _ in
            let r0 = task * chunk, r1 = min(m, r0 + chunk)
            if let dense { for r in r0..<r1 { y[r] = cblas_sdot(Int32(k), x, 1, dense + r * k, 1) }; return }
            let row = UnsafeMutablePointer<Float>.allocate(capacity: k); defer { row.deallocate() }
            for r in r0..<r1 {
                w.dequantize(rows: r..<(r + 1), into: row)
                y[r] = cblas_sdot(Int32(k), x, 1, row, 1)
            }
        }
        return
    }
    let tile = nf4TileRows(w, n)
    let tiles = (m + tile - 1) / tile
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: dense == nil ? tile * k * max(1, Threads.count) : 0)
    defer { scratch.deallocate() }
    parallelTasks(tiles) { t, worker in
        let r0 = t * tile, r1 = min(m, r0 + tile)
        if let dense {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(r1 - r0), Int32(k), 1,
                        x, Int32(k), dense + r0 * k, Int32(k), 0, y + r0, Int32(m))
            return
        }
        let s = scratch + worker * tile * k
        w.dequantize(rows: r0..<r1, into: s)
        // y[:, r0..<r1] = x · W[r0..<r1]ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(r1 - r0), Int32(k), 1,
                    x, Int32(k), s, Int32(k), 0, y + r0, Int32(m))
    }
}

/// dx (N, in) = dy (N, out) · W, by blocks of `in` columns: a task owns dx[:, c0..<c1] and adds the row tiles
/// dy[:, r0..<r1] · W[r0..<r1, c0..<c1] in row order (each tile dequantised into per-thread scratch). No
/// reduction across threads, so the result is the same bits whichever worker runs which task. Blocks are
/// about 256 columns wide (an efficient GEMM), narrower when that gives fewer than two per thread.
public func nf4MatmulInputGradient(_ dy: UnsafePointer<Float>, rows n: Int, _ w: NF4Matrix, into dx: UnsafeMutablePointer<Float>) {
    Threads.configureBLAS()
    let k = w.columns, m = w.rows
    let wanted = max((k + 255) / 256, min(2 * Threads.count, (k + 63) / 64))
    let cw = min(k, ((k + wanted - 1) / wanted + 15) / 16 * 16)
    let blocks = (k + cw - 1) / cw
    let tile = max(8, min(m, 65_536 / cw))
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tile * cw * max(1, min(Threads.count, blocks)))
    defer { scratch.deallocate() }
    parallelTasks(blocks) { b, worker in
        let c0 = b * cw, c1 = min(k, c0 + cw), width = c1 - c0, s = scratch + worker * tile * cw
        for r0 in stride(from: 0, to: m, by: tile) {
            let r1 = min(m, r0 + tile)
            for r in r0..<r1 { w.dequantize(elements: (r * k + c0)..<(r * k + c1), into: s + (r - r0) * width) }
            // dx[:, c0..<c1] (+)= dy[:, r0..<r1] · W[r0..<r1, c0..<c1]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(width), Int32(r1 - r0), 1,
                        dy + r0, Int32(m), s, Int32(width), r0 == 0 ? 0 : 1, dx + c0, Int32(k))
        }
    }
}

/// y = x·Wᵀ for an NF4 weight, recorded on the tape with the input gradient only.
///
///     x: (…, in)   W: NF4 (out, in)   →   (…, out);   dx = dy·W
///
///     let y = try nf4Linear(x, weight: w)
public func nf4Linear(_ x: Tensor, weight w: NF4Matrix) throws -> Tensor {
    guard x.shape.last == w.columns else {
        throw TensorError("nf4Linear: input \(x.shape) does not end in the weight's \(w.columns) columns (weight \(w.rows)×\(w.columns))")
    }
    let n = x.count / w.columns
    let y = Tensor.uninitialized(Array(x.shape.dropLast()) + [w.rows])
    nf4MatmulForward(x.data, rows: n, w, into: y.data)
    guard isRecording([x]) else { return y }
    let shape = x.shape
    return y.recorded("nf4Linear", inputs: [x]) { dy in
        let dx = Tensor.uninitialized(shape)
        nf4MatmulInputGradient(dy.data, rows: n, w, into: dx.data)
        return [dx]
    }
}
