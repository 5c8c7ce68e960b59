// The fused quantized products of QuantizedKernels compiled for AVX2 + FMA + F16C (this target's flags).
// Only called after Quantization has checked at run time that the CPU has those features; nothing else here.
import QuantizedKernels

/// `blockRowsProduct` with 256-bit vectors and fused multiply-adds.
public func blockRowsProductAVX2(
    _ format: BlockFormat, weights: UnsafeRawPointer, rowBytes: Int, columns: Int, rows: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int, half: UnsafePointer<Float>,
    xSums: UnsafePointer<Float>?
) {
    blockRowsProduct(format, FusedMultiplyAdd.self, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows,
                     x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
}

/// `nf4RowsProduct` with 256-bit vectors and fused multiply-adds.
public func nf4RowsProductAVX2(
    codes: UnsafePointer<UInt8>, absmax: UnsafePointer<Float>, columns: Int, rows: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int, pairs: UnsafePointer<SIMD2<Float>>
) {
    nf4RowsProduct(FusedMultiplyAdd.self, codes: codes, absmax: absmax, columns: columns, rows: rows,
                   x: x, ldx: ldx, m: m, y: y, ldy: ldy, pairs: pairs)
}
