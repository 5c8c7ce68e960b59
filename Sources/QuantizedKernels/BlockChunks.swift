// Decoders of 32 consecutive weights of a quantized block into four SIMD8<Float>, one per block format
// (GGML Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K; NF4 in ProductKernels.swift), written @inlinable so
// that every module that instantiates them compiles them for its own instruction set (QuantizedKernelsAVX2
// for AVX2 + FMA, Quantization for the portable baseline). Not the byte-exact scalar oracle (GGMLDecode.swift)
// and not a matmul. Each formula performs the same float operations as GGMLDecoder.decodeReference, so a
// decoded weight is the same Float as the reference gives.

/// Eight Float32 lanes: the vector every kernel here works in.
public typealias Float8 = SIMD8<Float>

/// 32 consecutive weights: lanes a (elements 0–7), b (8–15), c (16–23), d (24–31).
public struct Chunk32 {
    public var a: Float8, b: Float8, c: Float8, d: Float8
    @inlinable @inline(__always) public init(_ a: Float8, _ b: Float8, _ c: Float8, _ d: Float8) {
        self.a = a; self.b = b; self.c = c; self.d = d
    }
}

/// How a kernel computes a·b + c: fused (one rounding, one instruction with FMA) or as a product then a sum.
public protocol MultiplyAdd {
    static func madd(_ a: Float8, _ b: Float8, _ c: Float8) -> Float8
}
/// a·b + c with one rounding; for code compiled where the CPU has FMA (otherwise a libm call per lane).
public enum FusedMultiplyAdd: MultiplyAdd {
    @inlinable @inline(__always) public static func madd(_ a: Float8, _ b: Float8, _ c: Float8) -> Float8 { c.addingProduct(a, b) }
}
/// a·b + c as two operations, for the portable baseline.
public enum SeparateMultiplyAdd: MultiplyAdd {
    @inlinable @inline(__always) public static func madd(_ a: Float8, _ b: Float8, _ c: Float8) -> Float8 { a * b + c }
}

/// 32 consecutive weights as their integer levels (exact small integers, as Float) and the affine map that
/// gives the weights: w = lowScale·q + min for lanes a, b and highScale·q + min for lanes c, d (the two scales
/// differ only in Q6_K, whose 16-element sub-blocks have their own). A kernel can sum q·x first and apply the
/// scale once per 16 or 32 weights, and the min once per chunk through the chunk's sum of x.
public struct RawChunk32 {
    public var q: Chunk32, lowScale: Float, highScale: Float, min: Float
    @inlinable @inline(__always) public init(_ q: Chunk32, lowScale: Float, highScale: Float, min: Float) {
        self.q = q; self.lowScale = lowScale; self.highScale = highScale; self.min = min
    }
    @inlinable @inline(__always) public init(_ q: Chunk32, scale: Float, min: Float = 0) {
        self.init(q, lowScale: scale, highScale: scale, min: min)
    }
}

/// A GGML block format: its block geometry and the decoder of chunk `s` (elements 32·s ..< 32·s + 32) of a block.
public protocol ChunkDecoder {
    /// Elements per block (32, or 256 for the K-quants).
    static var blockSize: Int { get }
    /// Bytes per block (ggml `type_size`).
    static var bytesPerBlock: Int { get }
    /// Whether the weights have an additive min (Q4_1, Q5_1, Q4_K, Q5_K), so that a kernel over raw chunks
    /// needs the chunk sums of x.
    static var hasMin: Bool { get }
    /// Chunk `s` (0 ..< blockSize/32) of the block at `b` as levels and their affine map; `half` maps fp16 bits
    /// to Float. `chunk` turns it into weights.
    static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32
}

extension ChunkDecoder {
    /// Chunk `s` (0 ..< blockSize/32) of the block at `b` as weights: `raw`'s levels through their affine map,
    /// lowScale·q (+ min) on lanes a, b and highScale·q (+ min) on c, d. For every format these are the float
    /// operations of GGMLDecoder.decodeReference (the K-quants' min is −dmin·m_s, and adding it is the
    /// reference's subtraction), so a decoded weight is the reference's Float.
    @inlinable @inline(__always)
    public static func chunk(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> Chunk32 {
        let r = raw(b, s, half)
        let lo = Float8(repeating: r.lowScale), hi = Float8(repeating: r.highScale)
        guard hasMin else { return Chunk32(lo * r.q.a, lo * r.q.b, hi * r.q.c, hi * r.q.d) }
        let m = Float8(repeating: r.min)
        return Chunk32(lo * r.q.a + m, lo * r.q.b + m, hi * r.q.c + m, hi * r.q.d + m)
    }
}

/// The fp16 at byte offset `o` of `b`, as Float.
@inlinable @inline(__always)
func halfAt(_ b: UnsafeRawPointer, _ o: Int, _ half: UnsafePointer<Float>) -> Float {
    half[Int(b.loadUnaligned(fromByteOffset: o, as: UInt16.self))]
}

@inlinable @inline(__always) func floats(_ v: SIMD8<UInt8>) -> Float8 { Float8(SIMD8<Int32>(truncatingIfNeeded: v)) }
@inlinable @inline(__always) func floats(_ v: SIMD8<Int32>) -> Float8 { Float8(v) }

/// Lanes 0…7, for building per-lane bit positions.
@inlinable @inline(__always) func laneIndex() -> SIMD8<UInt32> { SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7) }

/// `block_q4_0` (18 bytes): x[j] = d·((qs[j] & 15) − 8), x[j+16] = d·((qs[j] >> 4) − 8).
public enum Q4_0Chunks: ChunkDecoder {
    public static var blockSize: Int { 32 }
    public static var bytesPerBlock: Int { 18 }
    public static var hasMin: Bool { false }
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        let q = b.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
        let lo = q & 0x0F, hi = q &>> 4
        @inline(__always) func v(_ x: SIMD8<UInt8>) -> Float8 { floats(SIMD8<Int32>(truncatingIfNeeded: x) &- 8) }
        return RawChunk32(Chunk32(v(lo.lowHalf), v(lo.highHalf), v(hi.lowHalf), v(hi.highHalf)), scale: halfAt(b, 0, half))
    }
}

/// `block_q4_1` (20 bytes): x[j] = d·(qs[j] & 15) + m, x[j+16] = d·(qs[j] >> 4) + m.
public enum Q4_1Chunks: ChunkDecoder {
    public static var blockSize: Int { 32 }
    public static var bytesPerBlock: Int { 20 }
    public static var hasMin: Bool { true }
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        let q = b.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let lo = q & 0x0F, hi = q &>> 4
        return RawChunk32(Chunk32(floats(lo.lowHalf), floats(lo.highHalf), floats(hi.lowHalf), floats(hi.highHalf)),
                          scale: halfAt(b, 0, half), min: halfAt(b, 2, half))
    }
}

/// The fifth bits of elements `first ..< first + 8` of a Q5 block from its 32-bit qh, as 0 or 16 per lane.
@inlinable @inline(__always)
func fifthBits(_ qh: UInt32, _ first: UInt32) -> SIMD8<Int32> {
    SIMD8<Int32>(truncatingIfNeeded: ((SIMD8<UInt32>(repeating: qh) &>> (laneIndex() &+ first)) & 1) &<< 4)
}

/// `block_q5_0` (22 bytes): q[j] = (qs[j] & 15) | bit j of qh << 4, q[j+16] = (qs[j] >> 4) | bit j+16 << 4;
/// x = d·(q − 16).
public enum Q5_0Chunks: ChunkDecoder {
    public static var blockSize: Int { 32 }
    public static var bytesPerBlock: Int { 22 }
    public static var hasMin: Bool { false }
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        let qh = b.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let q = b.loadUnaligned(fromByteOffset: 6, as: SIMD16<UInt8>.self)
        let lo = q & 0x0F, hi = q &>> 4
        @inline(__always) func v(_ x: SIMD8<UInt8>, _ first: UInt32) -> Float8 {
            floats((SIMD8<Int32>(truncatingIfNeeded: x) | fifthBits(qh, first)) &- 16)
        }
        return RawChunk32(Chunk32(v(lo.lowHalf, 0), v(lo.highHalf, 8), v(hi.lowHalf, 16), v(hi.highHalf, 24)), scale: halfAt(b, 0, half))
    }
}

/// `block_q5_1` (24 bytes): q as Q5_0 (qh at byte 4, qs from byte 8); x = d·q + m.
public enum Q5_1Chunks: ChunkDecoder {
    public static var blockSize: Int { 32 }
    public static var bytesPerBlock: Int { 24 }
    public static var hasMin: Bool { true }
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        let qh = b.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let q = b.loadUnaligned(fromByteOffset: 8, as: SIMD16<UInt8>.self)
        let lo = q & 0x0F, hi = q &>> 4
        @inline(__always) func v(_ x: SIMD8<UInt8>, _ first: UInt32) -> Float8 {
            floats(SIMD8<Int32>(truncatingIfNeeded: x) | fifthBits(qh, first))
        }
        return RawChunk32(Chunk32(v(lo.lowHalf, 0), v(lo.highHalf, 8), v(hi.lowHalf, 16), v(hi.highHalf, 24)),
                          scale: halfAt(b, 0, half), min: halfAt(b, 2, half))
    }
}

/// `block_q8_0` (34 bytes): x[j] = d·qs[j], qs int8.
public enum Q8_0Chunks: ChunkDecoder {
    public static var blockSize: Int { 32 }
    public static var bytesPerBlock: Int { 34 }
    public static var hasMin: Bool { false }
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        @inline(__always) func v(_ o: Int) -> Float8 {
            floats(SIMD8<Int32>(truncatingIfNeeded: b.loadUnaligned(fromByteOffset: 2 + o, as: SIMD8<Int8>.self)))
        }
        return RawChunk32(Chunk32(v(0), v(8), v(16), v(24)), scale: halfAt(b, 0, half))
    }
}

/// The 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block's 12 packed bytes (ggml `get_scale_min_k4`).
@inlinable @inline(__always)
func kScaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (Float, Float) {
    let p = q.assumingMemoryBound(to: UInt8.self)
    if j < 4 { return (Float(p[j] & 63), Float(p[j + 4] & 63)) }
    return (Float((p[j + 4] & 0x0F) | ((p[j - 4] >> 6) << 4)), Float((p[j + 4] >> 4) | ((p[j] >> 6) << 4)))
}

/// `block_q4_K` (144 bytes): sub-block s of 32 reads the low (s even) or high (s odd) nibbles of
/// qs[32·(s/2) ..< 32·(s/2) + 32]; x = (d·sc_s)·q − dmin·m_s.
public enum Q4_KChunks: ChunkDecoder {
    public static var blockSize: Int { 256 }
    public static var bytesPerBlock: Int { 144 }
    public static var hasMin: Bool { true }
    /// min = −(dmin·m_s): d1·q + min is d1·q − c1 bit for bit.
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        let (sc, mn) = kScaleMin(s, b + 4)
        let q0 = b.loadUnaligned(fromByteOffset: 16 + 32 * (s / 2), as: SIMD16<UInt8>.self)
        let q1 = b.loadUnaligned(fromByteOffset: 32 + 32 * (s / 2), as: SIMD16<UInt8>.self)
        let shift = UInt8(4 * (s & 1))
        let n0 = (q0 &>> shift) & 0x0F, n1 = (q1 &>> shift) & 0x0F
        return RawChunk32(Chunk32(floats(n0.lowHalf), floats(n0.highHalf), floats(n1.lowHalf), floats(n1.highHalf)),
                          scale: halfAt(b, 0, half) * sc, min: -(halfAt(b, 2, half) * mn))
    }
}

/// `block_q5_K` (176 bytes): as Q4_K (scales at 4, nibbles at 48) with a fifth bit: element l of sub-block s
/// adds 16 when bit s of qh[l] (byte 16 + l) is set; x = (d·sc_s)·q − dmin·m_s.
public enum Q5_KChunks: ChunkDecoder {
    public static var blockSize: Int { 256 }
    public static var bytesPerBlock: Int { 176 }
    public static var hasMin: Bool { true }
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        let (sc, mn) = kScaleMin(s, b + 4)
        let q0 = b.loadUnaligned(fromByteOffset: 48 + 32 * (s / 2), as: SIMD16<UInt8>.self)
        let q1 = b.loadUnaligned(fromByteOffset: 64 + 32 * (s / 2), as: SIMD16<UInt8>.self)
        let h0 = b.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self)
        let h1 = b.loadUnaligned(fromByteOffset: 32, as: SIMD16<UInt8>.self)
        let shift = UInt8(4 * (s & 1)), bit = UInt8(s)
        let n0 = ((q0 &>> shift) & 0x0F) | (((h0 &>> bit) & 1) &<< 4)
        let n1 = ((q1 &>> shift) & 0x0F) | (((h1 &>> bit) & 1) &<< 4)
        return RawChunk32(Chunk32(floats(n0.lowHalf), floats(n0.highHalf), floats(n1.lowHalf), floats(n1.highHalf)),
                          scale: halfAt(b, 0, half) * sc, min: -(halfAt(b, 2, half) * mn))
    }
}

/// `block_q6_K` (210 bytes): sub-block s = 4n + k (n < 2, k < 4) holds elements 128n + 32k + l (l < 32) with
/// q = (nibble of ql[64n + 32·(k % 2) + l]: low for k < 2, high for k ≥ 2) | ((qh[32n + l] >> 2k) & 3) << 4
/// and x = (d·scales[8n + 2k + l/16])·(q − 32).
public enum Q6_KChunks: ChunkDecoder {
    public static var blockSize: Int { 256 }
    public static var bytesPerBlock: Int { 210 }
    public static var hasMin: Bool { false }
    @inlinable @inline(__always)
    public static func raw(_ b: UnsafeRawPointer, _ s: Int, _ half: UnsafePointer<Float>) -> RawChunk32 {
        let n = s / 4, k = s % 4
        let d = halfAt(b, 208, half)
        let scales = (b + 192 + 8 * n + 2 * k).assumingMemoryBound(to: Int8.self)
        let ql0 = b.loadUnaligned(fromByteOffset: 64 * n + 32 * (k % 2), as: SIMD16<UInt8>.self)
        let ql1 = b.loadUnaligned(fromByteOffset: 64 * n + 32 * (k % 2) + 16, as: SIMD16<UInt8>.self)
        let qh0 = b.loadUnaligned(fromByteOffset: 128 + 32 * n, as: SIMD16<UInt8>.self)
        let qh1 = b.loadUnaligned(fromByteOffset: 128 + 32 * n + 16, as: SIMD16<UInt8>.self)
        let lshift = UInt8(k < 2 ? 0 : 4), hshift = UInt8(2 * k)
        let q0 = ((ql0 &>> lshift) & 0x0F) | (((qh0 &>> hshift) & 3) &<< 4)
        let q1 = ((ql1 &>> lshift) & 0x0F) | (((qh1 &>> hshift) & 3) &<< 4)
        @inline(__always) func v(_ x: SIMD8<UInt8>) -> Float8 { floats(SIMD8<Int32>(truncatingIfNeeded: x) &- 32) }
        return RawChunk32(Chunk32(v(q0.lowHalf), v(q0.highHalf), v(q1.lowHalf), v(q1.highHalf)),
                          lowScale: d * Float(scales[0]), highScale: d * Float(scales[1]), min: 0)
    }
}
