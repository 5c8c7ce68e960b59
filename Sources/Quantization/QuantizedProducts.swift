// The fused thin-x products (at most 16 rows of x) of both block formats: the kernels of QuantizedKernels (chunks
// of 32 weights decoded in registers, threaded over W's rows), their instruction set chosen once at run time;
// and GGML weights in the block products (BlockProducts.swift). No weight gradient: these weights are frozen.
import Autograd
import Foundation
import QuantizedKernels
import QuantizedKernelsAVX2

/// Which compiled instantiation of the fused kernels runs.
public enum KernelInstructionSet: String, Sendable, CaseIterable {
    /// 256-bit vectors with FMA and F16C (x86-64 with AVX2).
    case avx2
    /// What the build's baseline target allows (SSE2 on x86-64).
    case portable

    /// AVX2 when the CPU reports avx, avx2, fma and f16c, unless `AUTORE_KERNELS=portable`.
    public static let current: KernelInstructionSet = {
        if ProcessInfo.processInfo.environment["AUTORE_KERNELS"] == "portable" { return .portable }
        return cpuHasAVX2 ? .avx2 : .portable
    }()

    static var cpuHasAVX2: Bool {
        #if arch(x86_64) && os(Linux)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let flags = Set(line.split(separator: " ").map(String.init))
        return ["avx", "avx2", "fma", "f16c"].allSatisfy(flags.contains)
        #elseif arch(x86_64) && canImport(Darwin)
        func has(_ name: String) -> Bool {
            var v: Int32 = 0, size = MemoryLayout<Int32>.size
            return sysctlbyname(name, &v, &size, nil, 0) == 0 && v != 0
        }
        return has("hw.optional.avx2_0") && has("hw.optional.fma")
        #else
        return false
        #endif
    }
}

/// fp16 bits → Float for all 65536 patterns, at a stable address for the kernels.
let halfFloats: UnsafePointer<Float> = {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: 65536)
    for i in 0..<65536 { p[i] = ggmlHalfToFloat(UInt16(i)) }
    return UnsafePointer(p)
}()

/// (code[hi], code[lo]) of every NF4 byte, at a stable address for the kernels.
let nf4Pairs: UnsafePointer<SIMD2<Float>> = {
    let p = UnsafeMutablePointer<SIMD2<Float>>.allocate(capacity: 256)
    for i in 0..<256 { p[i] = SIMD2(nf4Code[i >> 4], nf4Code[i & 15]) }
    return UnsafePointer(p)
}()

extension GGMLType {
    /// The fused kernels' format of this type (nil: F32, F16, BF16 go through decoded tiles).
    var blockFormat: BlockFormat? {
        switch self {
        case .q4_0: .q4_0
        case .q4_1: .q4_1
        case .q5_0: .q5_0
        case .q5_1: .q5_1
        case .q8_0: .q8_0
        case .q4_K: .q4_K
        case .q5_K: .q5_K
        case .q6_K: .q6_K
        case .f32, .f16, .bf16: nil
        }
    }
}

/// Splits W's `rows` over the pool for a fused product: tasks of at least 16 rows and about 32K
/// multiply-adds, several per thread so that a slower core does not hold up the rest. Every element of y is
/// computed by one task in a fixed order, so the split does not change the bits.
@inline(__always)
func fusedRows(_ rows: Int, columns: Int, m: Int, _ body: (Range<Int>) -> Void) {
    let work = rows * columns * m
    if Threads.count == 1 || work < 1 << 16 { body(0..<rows); return }
    let perTask = max(16, (rows + 4 * Threads.count - 1) / (4 * Threads.count))
    let tasks = (rows + perTask - 1) / perTask
    parallelTasks(tasks) { t, _ in body((t * perTask)..<min(rows, (t + 1) * perTask)) }
}

/// Runs `body` with x's 32-column sums when the m = 1 kernel of `format` reads them (a format with a min), else nil.
@inline(__always)
func withChunkSums<R>(_ x: UnsafePointer<Float>, columns: Int, m: Int, format: BlockFormat,
                      _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard m == 1 && format.hasMin else { return body(nil) }
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, columns / 32)) { buffer in
        chunkSums(x, columns: columns, into: buffer.baseAddress!)
        return body(UnsafePointer(buffer.baseAddress!))
    }
}

/// y (m, ldy ≥ rows) = x (m, columns; row stride ldx) · Wᵀ with the fused kernel, for m ≤ 16.
func ggmlFusedProduct(_ x: UnsafePointer<Float>, ldx: Int, m: Int, _ w: GGMLMatrix, format: BlockFormat,
                      into y: UnsafeMutablePointer<Float>, ldy: Int, instructions: KernelInstructionSet = .current) {
    let p = w.blocks, rb = w.rowBytes, k = w.columns
    withChunkSums(x, columns: k, m: m, format: format) { sums in
        fusedRows(w.rows, columns: k, m: m) { rows in
            switch instructions {
            case .avx2:
                blockRowsProductAVX2(format, weights: p, rowBytes: rb, columns: k, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy,
                                     half: halfFloats, xSums: sums)
            case .portable:
                blockRowsProduct(format, SeparateMultiplyAdd.self, weights: p, rowBytes: rb, columns: k, rows: rows,
                                 x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: halfFloats, xSums: sums)
            }
        }
    }
}


extension GGMLMatrix: BlockWeight {
    public var formatName: String { "\(type)" }
    /// Column ranges decode in whole GGML blocks.
    public var columnAlignment: Int { type.traits.blockSize }
    /// The fused kernel of the block type; F32, F16 and BF16 have none (they go through decoded tiles).
    public func fusedProduct(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>,
                             instructions: KernelInstructionSet) -> Bool {
        guard let format = type.blockFormat else { return false }
        ggmlFusedProduct(x, ldx: columns, m: m, self, format: format, into: y, ldy: rows, instructions: instructions)
        return true
    }
    /// The rows `ids` alone: each row's blocks are handed to the kernel as a one-row weight, so every output
    /// is the same sum, in the same order, as in the whole product.
    public func fusedProduct(_ x: UnsafePointer<Float>, m: Int, rows ids: [Int], into y: UnsafeMutablePointer<Float>,
                             instructions: KernelInstructionSet) -> Bool {
        guard let format = type.blockFormat else { return false }
        precondition(ids.allSatisfy { $0 >= 0 && $0 < rows }, "fusedProduct: a row outside 0..<\(rows)")
        let p = blocks, rb = rowBytes, k = columns, n = ids.count
        withChunkSums(x, columns: k, m: m, format: format) { sums in
            fusedRows(n, columns: k, m: m) { range in
                for j in range {
                    let w = p + ids[j] * rb
                    switch instructions {
                    case .avx2:
                        blockRowsProductAVX2(format, weights: w, rowBytes: rb, columns: k, rows: 0..<1, x: x, ldx: k, m: m, y: y + j, ldy: n,
                                             half: halfFloats, xSums: sums)
                    case .portable:
                        blockRowsProduct(format, SeparateMultiplyAdd.self, weights: w, rowBytes: rb, columns: k, rows: 0..<1,
                                         x: x, ldx: k, m: m, y: y + j, ldy: n, half: halfFloats, xSums: sums)
                    }
                }
            }
        }
        return true
    }
    public var decodedCopy: UnsafePointer<Float>? { dense.current }
}

/// y (N, out) = x (N, in) · Wᵀ for W in GGML blocks (`blockMatmulForward`).
public func ggmlMatmulForward(_ x: UnsafePointer<Float>, rows n: Int, _ w: GGMLMatrix, into y: UnsafeMutablePointer<Float>,
                              instructions: KernelInstructionSet = .current) {
    blockMatmulForward(x, rows: n, w, into: y, instructions: instructions)
}

/// dx (N, in) = dy (N, out) · W for W in GGML blocks (`blockMatmulInputGradient`).
public func ggmlMatmulInputGradient(_ dy: UnsafePointer<Float>, rows n: Int, _ w: GGMLMatrix, into dx: UnsafeMutablePointer<Float>) {
    blockMatmulInputGradient(dy, rows: n, w, into: dx)
}

/// y = x·Wᵀ for a weight in GGML blocks, recorded on the tape with the input gradient only.
///
///     x: (…, in)   W: GGML (out, in)   →   (…, out);   dx = dy·W
///
///     let y = try ggmlLinear(x, weight: w)
public func ggmlLinear(_ x: Tensor, weight w: GGMLMatrix) throws -> Tensor { try blockLinear(x, weight: w, op: "ggmlLinear") }

/// y (m, ids.count) = x (m, columns) · W[ids]ᵀ for an NF4 weight whose columns are a multiple of 64: each
/// row's codes and absmax handed to the fused kernel as a one-row weight (the same sums as `nf4FusedProduct`).
func nf4FusedProduct(_ x: UnsafePointer<Float>, m: Int, _ w: NF4Matrix, rows ids: [Int], into y: UnsafeMutablePointer<Float>,
                     instructions: KernelInstructionSet = .current) {
    let k = w.columns, n = ids.count
    precondition(ids.allSatisfy { $0 >= 0 && $0 < w.rows }, "fusedProduct: a row outside 0..<\(w.rows)")
    w.codes.withUnsafeBufferPointer { cb in w.absmax.withUnsafeBufferPointer { ab in
        let c = cb.baseAddress!, a = ab.baseAddress!
        fusedRows(n, columns: k, m: m) { range in
            for j in range {
                let (cr, ar) = (c + ids[j] * k / 2, a + ids[j] * k / 64)
                switch instructions {
                case .avx2:
                    nf4RowsProductAVX2(codes: cr, absmax: ar, columns: k, rows: 0..<1, x: x, ldx: k, m: m, y: y + j, ldy: n, pairs: nf4Pairs)
                case .portable:
                    nf4RowsProduct(SeparateMultiplyAdd.self, codes: cr, absmax: ar, columns: k, rows: 0..<1, x: x, ldx: k, m: m,
                                   y: y + j, ldy: n, pairs: nf4Pairs)
                }
            }
        }
    } }
}

/// y (m, rows) = x (m, columns) · Wᵀ for an NF4 weight whose columns are a multiple of 64, with the fused
/// kernel (m ≤ 16). The products do not depend on a kept Float32 copy.
func nf4FusedProduct(_ x: UnsafePointer<Float>, m: Int, _ w: NF4Matrix, into y: UnsafeMutablePointer<Float>,
                     instructions: KernelInstructionSet = .current) {
    let k = w.columns, rows = w.rows
    w.codes.withUnsafeBufferPointer { cb in w.absmax.withUnsafeBufferPointer { ab in
        let c = cb.baseAddress!, a = ab.baseAddress!
        fusedRows(rows, columns: k, m: m) { r in
            switch instructions {
            case .avx2:
                nf4RowsProductAVX2(codes: c, absmax: a, columns: k, rows: r, x: x, ldx: k, m: m, y: y, ldy: rows, pairs: nf4Pairs)
            case .portable:
                nf4RowsProduct(SeparateMultiplyAdd.self, codes: c, absmax: a, columns: k, rows: r, x: x, ldx: k, m: m,
                               y: y, ldy: rows, pairs: nf4Pairs)
            }
        }
    } }
}
