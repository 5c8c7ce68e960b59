// The fused product of a thin Float32 matrix (M ≤ 16 rows) with a weight kept in quantized blocks, over a
// range of the weight's rows: each chunk of 32 weights is decoded into registers once and multiplied with
// every row of x, so no decoded weight is ever stored. @inlinable bodies: the modules that instantiate them
// choose the instruction set. Not threaded (the caller splits rows) and not a GEMM for large M.

/// The sum of eight lanes by halves (one shuffle per step instead of a lane-by-lane chain).
@inlinable @inline(__always)
public func horizontalSum(_ v: Float8) -> Float {
    let four = v.lowHalf + v.highHalf, two = four.lowHalf + four.highHalf
    return two.x + two.y
}

/// The block formats these kernels read.
public enum BlockFormat: Int, Sendable, CaseIterable {
    case q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K
}

/// Most rows of x one call multiplies (the accumulators live on the stack).
public let maxProductRows = 16

/// y[i·ldy + r] = Σₖ x[i·ldx + k] · W[r, k]   for i < m, r ∈ rows
///
///     x: (m, columns) with row stride ldx     W: rows of `rowBytes` bytes, each columns/blockSize blocks
///     y: (m, ·) with row stride ldy
///
/// `half` maps fp16 bits to Float (65536 entries). `m` is 1…16 and `columns` a multiple of the block size.
/// With m = 1 and a format with a min (`D.hasMin`), `xSums` holds x's sums over each 32 columns
/// (`chunkSums`); otherwise it is not read.
@inlinable @inline(__always)
public func blockRowsProduct<D: ChunkDecoder, A: MultiplyAdd>(
    _: D.Type, _: A.Type, weights: UnsafeRawPointer, rowBytes: Int, columns: Int, rows: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int, half: UnsafePointer<Float>,
    xSums: UnsafePointer<Float>?
) {
    let blocks = columns / D.blockSize, chunks = D.blockSize / 32
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }
    if m == 1 {
        // One row of x: the levels times x first, the scale once per 16 or 32 weights, the min once per chunk
        // through xSums (half the float operations of decoding every weight).
        for r in rows {
            let w = weights + r * rowBytes
            var s0 = Float8(), s1 = Float8(), minSum: Float = 0
            var xp = x, chunk = 0
            for blk in 0..<blocks {
                let b = w + blk * D.bytesPerBlock
                for s in 0..<chunks {
                    let c = D.raw(b, s, half)
                    let lo = A.madd(c.q.b, load(xp + 8), c.q.a * load(xp))
                    let hi = A.madd(c.q.d, load(xp + 24), c.q.c * load(xp + 16))
                    s0 = A.madd(Float8(repeating: c.lowScale), lo, s0)
                    s1 = A.madd(Float8(repeating: c.highScale), hi, s1)
                    if D.hasMin { minSum += c.min * xSums![chunk] }
                    xp += 32; chunk += 1
                }
            }
            y[r] = horizontalSum(s0 + s1) + minSum
        }
        return
    }
    withUnsafeTemporaryAllocation(of: Float8.self, capacity: maxProductRows) { accBuffer in
        let acc = accBuffer.baseAddress!
        for r in rows {
            let w = weights + r * rowBytes
            for i in 0..<m { acc[i] = Float8() }
            var col = 0
            for blk in 0..<blocks {
                let b = w + blk * D.bytesPerBlock
                for s in 0..<chunks {
                    let c = D.chunk(b, s, half)
                    var xp = x + col
                    for i in 0..<m {
                        let p = A.madd(c.b, load(xp + 8), c.a * load(xp))
                        let q = A.madd(c.d, load(xp + 24), c.c * load(xp + 16))
                        acc[i] += p + q
                        xp += ldx
                    }
                    col += 32
                }
            }
            for i in 0..<m { y[i * ldy + r] = horizontalSum(acc[i]) }
        }
    }
}

/// x's sums over each 32 consecutive columns (columns / 32 of them), in a fixed order: what the m = 1 kernels
/// multiply a chunk's min by.
@inlinable @inline(__always)
public func chunkSums(_ x: UnsafePointer<Float>, columns: Int, into out: UnsafeMutablePointer<Float>) {
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }
    for c in 0..<(columns / 32) {
        let p = x + 32 * c
        out[c] = horizontalSum((load(p) + load(p + 8)) + (load(p + 16) + load(p + 24)))
    }
}

extension BlockFormat {
    /// Whether the format's weights have an additive min (the m = 1 kernels then need `chunkSums` of x).
    public var hasMin: Bool {
        switch self {
        case .q4_0: Q4_0Chunks.hasMin
        case .q4_1: Q4_1Chunks.hasMin
        case .q5_0: Q5_0Chunks.hasMin
        case .q5_1: Q5_1Chunks.hasMin
        case .q8_0: Q8_0Chunks.hasMin
        case .q4_K: Q4_KChunks.hasMin
        case .q5_K: Q5_KChunks.hasMin
        case .q6_K: Q6_KChunks.hasMin
        }
    }
}

/// `blockRowsProduct` for a format given at run time.
@inlinable @inline(__always)
public func blockRowsProduct<A: MultiplyAdd>(
    _ format: BlockFormat, _ a: A.Type, weights: UnsafeRawPointer, rowBytes: Int, columns: Int, rows: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int, half: UnsafePointer<Float>,
    xSums: UnsafePointer<Float>?
) {
    switch format {
    case .q4_0: blockRowsProduct(Q4_0Chunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    case .q4_1: blockRowsProduct(Q4_1Chunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    case .q5_0: blockRowsProduct(Q5_0Chunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    case .q5_1: blockRowsProduct(Q5_1Chunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    case .q8_0: blockRowsProduct(Q8_0Chunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    case .q4_K: blockRowsProduct(Q4_KChunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    case .q5_K: blockRowsProduct(Q5_KChunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    case .q6_K: blockRowsProduct(Q6_KChunks.self, a, weights: weights, rowBytes: rowBytes, columns: columns, rows: rows, x: x, ldx: ldx, m: m, y: y, ldy: ldy, half: half, xSums: xSums)
    }
}

/// The NF4 weights of 32 consecutive elements starting at an even element: 16 bytes of code pairs (first
/// element in the high nibble) through `pairs` (byte → (code[hi], code[lo])), times the block's absmax.
@inlinable @inline(__always)
func nf4Chunk(_ codes: UnsafePointer<UInt8>, _ scale: Float, _ pairs: UnsafePointer<SIMD2<Float>>) -> Chunk32 {
    @inline(__always) func four(_ o: Int) -> SIMD4<Float> {
        SIMD4(lowHalf: pairs[Int(codes[o])], highHalf: pairs[Int(codes[o + 1])])
    }
    @inline(__always) func eight(_ o: Int) -> Float8 { Float8(lowHalf: four(o), highHalf: four(o + 2)) * scale }
    return Chunk32(eight(0), eight(4), eight(8), eight(12))
}

/// y[i·ldy + r] = Σₖ x[i·ldx + k] · W[r, k] for an NF4 weight (codes of the flattened weight, two per byte,
/// first element high; one absmax per 64 consecutive elements) whose `columns` is a multiple of 64, so that
/// every row starts a block.
@inlinable @inline(__always)
public func nf4RowsProduct<A: MultiplyAdd>(
    _: A.Type, codes: UnsafePointer<UInt8>, absmax: UnsafePointer<Float>, columns: Int, rows: Range<Int>,
    x: UnsafePointer<Float>, ldx: Int, m: Int, y: UnsafeMutablePointer<Float>, ldy: Int, pairs: UnsafePointer<SIMD2<Float>>
) {
    let chunks = columns / 32
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }
    if m == 1 {
        for r in rows {
            let c0 = codes + r * columns / 2, a0 = absmax + r * columns / 64
            var s0 = Float8(), s1 = Float8()
            var xp = x
            for s in 0..<chunks {
                let c = nf4Chunk(c0 + 16 * s, 1, pairs), scale = Float8(repeating: a0[s / 2])
                let lo = A.madd(c.b, load(xp + 8), c.a * load(xp))
                let hi = A.madd(c.d, load(xp + 24), c.c * load(xp + 16))
                s0 = A.madd(scale, lo, s0)
                s1 = A.madd(scale, hi, s1)
                xp += 32
            }
            y[r] = horizontalSum(s0 + s1)
        }
        return
    }
    withUnsafeTemporaryAllocation(of: Float8.self, capacity: maxProductRows) { accBuffer in
        let acc = accBuffer.baseAddress!
        for r in rows {
            let c0 = codes + r * columns / 2, a0 = absmax + r * columns / 64
            for i in 0..<m { acc[i] = Float8() }
            for s in 0..<chunks {
                let c = nf4Chunk(c0 + 16 * s, a0[s / 2], pairs)
                var xp = x + 32 * s
                for i in 0..<m {
                    let p = A.madd(c.b, load(xp + 8), c.a * load(xp))
                    let q = A.madd(c.d, load(xp + 24), c.c * load(xp + 16))
                    acc[i] += p + q
                    xp += ldx
                }
            }
            for i in 0..<m { y[i * ldy + r] = horizontalSum(acc[i]) }
        }
    }
}
