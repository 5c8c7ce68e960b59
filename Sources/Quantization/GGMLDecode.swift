// Decoding of GGML tensor data (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) to Float32: a scalar
// `_ref`-style reference per type (the oracle) and a fast path per type. Not an encoder, not a matmul.
//
// Bit layouts follow ggml's dequantize_row_* (ggml-quants.c); comments give the formula per type.

/// fp16 bits → Float, by hand so that it runs where Swift's `Float16` is unavailable (macOS x86).
/// IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals, inf and NaN kept.
@inline(__always)
public func ggmlHalfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    var mant = UInt32(h & 0x03FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        // subnormal: value = mant · 2^-24
        var e: UInt32 = 127 - 15 + 1
        while mant & 0x0400 == 0 { mant <<= 1; e -= 1 }
        mant &= 0x03FF
        return Float(bitPattern: sign | (e << 23) | (mant << 13))
    }
    if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 127 - 15) << 23) | (mant << 13))
}

/// bf16 bits → Float: bf16 is the upper half of an IEEE binary32.
@inline(__always)
public func ggmlBF16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

/// All 65536 fp16 values as Float (256 KiB), built once; the fast paths index it.
let halfTable: [Float] = (0...0xFFFF).map { ggmlHalfToFloat(UInt16($0)) }

@inline(__always)
private func u16(_ p: UnsafePointer<UInt8>, _ i: Int) -> UInt16 { UInt16(p[i]) | UInt16(p[i + 1]) << 8 }

/// Decoders of GGML-typed bytes to Float32.
///
///     let x = try GGMLDecoder.decode(.q4_1, bytes: raw, count: 64)        // [Float], 64 values
///     GGMLDecoder.decodeReference(.q4_1, src, count: 64, into: out)       // the scalar oracle
public enum GGMLDecoder {
    /// Checks that `src` holds exactly the bytes of `count` elements of `type`.
    static func checkSizes(_ type: GGMLType, _ src: UnsafeRawBufferPointer, _ count: Int, _ dst: UnsafeMutableBufferPointer<Float>) {
        let t = type.traits
        precondition(count % t.blockSize == 0, "\(type): \(count) elements is not a multiple of the block size \(t.blockSize)")
        precondition(src.count >= count / t.blockSize * t.bytesPerBlock, "\(type): \(src.count) bytes is too few for \(count) elements")
        precondition(dst.count >= count, "\(type): output holds \(dst.count) < \(count) elements")
    }

    // MARK: reference decoders: one element at a time, straight from the ggml formulas

    /// Scalar reference decoder (the oracle of `decode`). `count` must be a multiple of the block size.
    public static func decodeReference(_ type: GGMLType, _ src: UnsafeRawBufferPointer, count: Int,
                                       into dst: UnsafeMutableBufferPointer<Float>) {
        checkSizes(type, src, count, dst)
        guard count > 0 else { return }
        let p = src.bindMemory(to: UInt8.self).baseAddress!
        let bs = type.traits.bytesPerBlock
        switch type {
        case .f32:
            for i in 0..<count {
                let bits = UInt32(p[4*i]) | UInt32(p[4*i+1]) << 8 | UInt32(p[4*i+2]) << 16 | UInt32(p[4*i+3]) << 24
                dst[i] = Float(bitPattern: bits)
            }
        case .f16:
            for i in 0..<count { dst[i] = ggmlHalfToFloat(u16(p, 2*i)) }
        case .bf16:
            for i in 0..<count { dst[i] = ggmlBF16ToFloat(u16(p, 2*i)) }
        case .q8_0:
            // x[j] = d · qs[j]
            for i in 0..<count {
                let b = p + (i / 32) * bs, j = i % 32
                dst[i] = ggmlHalfToFloat(u16(b, 0)) * Float(Int8(bitPattern: b[2 + j]))
            }
        case .q4_0:
            // x[j] = d · ((qs[j] & 15) − 8), x[j+16] = d · ((qs[j] >> 4) − 8)
            for i in 0..<count {
                let b = p + (i / 32) * bs, j = i % 32
                let q = j < 16 ? Int(b[2 + j] & 0x0F) : Int(b[2 + j - 16] >> 4)
                dst[i] = ggmlHalfToFloat(u16(b, 0)) * Float(q - 8)
            }
        case .q4_1:
            // x[j] = d · (qs[j] & 15) + m, x[j+16] = d · (qs[j] >> 4) + m
            for i in 0..<count {
                let b = p + (i / 32) * bs, j = i % 32
                let q = j < 16 ? Int(b[4 + j] & 0x0F) : Int(b[4 + j - 16] >> 4)
                dst[i] = ggmlHalfToFloat(u16(b, 0)) * Float(q) + ggmlHalfToFloat(u16(b, 2))
            }
        case .q5_0:
            // q[j] = (qs[j] & 15) | bit j of qh << 4,  q[j+16] = (qs[j] >> 4) | bit j+16 of qh << 4;  x = d · (q − 16)
            for i in 0..<count {
                let b = p + (i / 32) * bs, j = i % 32
                let lo = j < 16 ? Int(b[6 + j] & 0x0F) : Int(b[6 + j - 16] >> 4)
                let hi = Int(b[2 + j / 8] >> UInt8(j % 8)) & 1
                dst[i] = ggmlHalfToFloat(u16(b, 0)) * Float((lo | hi << 4) - 16)
            }
        case .q5_1:
            // q as Q5_0 (qh at bytes 4–7, qs from byte 8);  x = d · q + m
            for i in 0..<count {
                let b = p + (i / 32) * bs, j = i % 32
                let lo = j < 16 ? Int(b[8 + j] & 0x0F) : Int(b[8 + j - 16] >> 4)
                let hi = Int(b[4 + j / 8] >> UInt8(j % 8)) & 1
                dst[i] = ggmlHalfToFloat(u16(b, 0)) * Float(lo | hi << 4) + ggmlHalfToFloat(u16(b, 2))
            }
        case .q4_K:
            // 8 sub-blocks of 32; sub-block s uses the low (s even) or high (s odd) nibbles of
            // qs[32·(s/2) ..< 32·(s/2)+32]; x = d·sc_s · q − dmin·m_s.
            for i in 0..<count {
                let b = p + (i / 256) * bs, j = i % 256
                let s = j / 32, l = j % 32
                let (sc, m) = q4KScaleMin(s, b + 4)
                let byte = b[16 + 32 * (s / 2) + l]
                let q = s % 2 == 0 ? byte & 0x0F : byte >> 4
                dst[i] = ggmlHalfToFloat(u16(b, 0)) * Float(sc) * Float(q) - ggmlHalfToFloat(u16(b, 2)) * Float(m)
            }
        case .q5_K:
            // As Q4_K (scales at 4, nibbles at 48) with a fifth bit: element l of sub-block s adds
            // 16 when bit s of qh[l] (byte 16 + l) is set; x = d·sc_s · q − dmin·m_s.
            for i in 0..<count {
                let b = p + (i / 256) * bs, j = i % 256
                let s = j / 32, l = j % 32
                let (sc, m) = q4KScaleMin(s, b + 4)
                let byte = b[48 + 32 * (s / 2) + l]
                let lo = s % 2 == 0 ? byte & 0x0F : byte >> 4
                let q = lo | ((b[16 + l] >> UInt8(s)) & 1) << 4
                dst[i] = ggmlHalfToFloat(u16(b, 0)) * Float(sc) * Float(q) - ggmlHalfToFloat(u16(b, 2)) * Float(m)
            }
        case .q6_K:
            // Two halves of 128. Element 128n + 32k + l (k < 4, l < 32) has the 6-bit code
            //   q = (nibble of ql[64n + 32·(k % 2) + l]: low for k < 2, high for k ≥ 2) | ((qh[32n + l] >> 2k) & 3) << 4
            // and x = d · scales[8n + 2k + l/16] · (q − 32).
            for i in 0..<count {
                let b = p + (i / 256) * bs, j = i % 256
                let n = j / 128, r = j % 128, k = r / 32, l = r % 32
                let qlByte = b[64 * n + l + 32 * (k % 2)]
                let lo = k < 2 ? qlByte & 0x0F : qlByte >> 4
                let hi = (b[128 + 32 * n + l] >> (2 * UInt8(k))) & 3
                let q = Int(lo | hi << 4) - 32
                let sc = Int8(bitPattern: b[192 + 8 * n + 2 * k + l / 16])
                dst[i] = ggmlHalfToFloat(u16(b, 208)) * Float(sc) * Float(q)
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) of a Q4_K block (ggml `get_scale_min_k4`):
    /// sub-blocks 0–3 keep them in the low 6 bits of bytes j and j+4; sub-blocks 4–7 keep their
    /// low 4 bits in the nibbles of byte j+4 and their top 2 bits in the top bits of bytes j−4 and j.
    @inline(__always)
    static func q4KScaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }

    // MARK: fast decoders: per block, scales once, fixed-trip inner loops the compiler unrolls

    /// Fast decoder; equals `decodeReference` exactly (same float operations per element).
    public static func decode(_ type: GGMLType, _ src: UnsafeRawBufferPointer, count: Int,
                              into dst: UnsafeMutableBufferPointer<Float>) {
        checkSizes(type, src, count, dst)
        guard count > 0 else { return }
        let p = src.bindMemory(to: UInt8.self).baseAddress!
        let y = dst.baseAddress!
        let nb = count / type.traits.blockSize, bs = type.traits.bytesPerBlock
        switch type {
        case .f32:
            UnsafeMutableRawPointer(y).copyMemory(from: p, byteCount: 4 * count)   // GGUF is little-endian, as are our hosts
        case .f16:
            halfTable.withUnsafeBufferPointer { t in
                let h = UnsafeRawPointer(p)
                for i in 0..<count { y[i] = t[Int(h.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))] }
            }
        case .bf16:
            let h = UnsafeRawPointer(p)
            for i in 0..<count { y[i] = Float(bitPattern: UInt32(h.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .q8_0:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 32
                    let d = t[Int(u16(b, 0))]
                    let q = UnsafeRawPointer(b + 2).assumingMemoryBound(to: Int8.self)
                    for j in 0..<32 { o[j] = d * Float(q[j]) }
                }
            }
        case .q4_0:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 32
                    let d = t[Int(u16(b, 0))]
                    let q = b + 2
                    for j in 0..<16 {
                        o[j] = d * Float(Int32(q[j] & 0x0F) - 8)
                        o[j + 16] = d * Float(Int32(q[j] >> 4) - 8)
                    }
                }
            }
        case .q4_1:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 32
                    let d = t[Int(u16(b, 0))], m = t[Int(u16(b, 2))]
                    let q = b + 4
                    for j in 0..<16 {
                        o[j] = d * Float(q[j] & 0x0F) + m
                        o[j + 16] = d * Float(q[j] >> 4) + m
                    }
                }
            }
        case .q5_0:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 32
                    let d = t[Int(u16(b, 0))]
                    let qh = UInt32(b[2]) | UInt32(b[3]) << 8 | UInt32(b[4]) << 16 | UInt32(b[5]) << 24
                    let q = b + 6
                    for j in 0..<16 {
                        let h0 = Int32((qh >> UInt32(j)) << 4 & 0x10), h1 = Int32((qh >> UInt32(j + 12)) & 0x10)
                        o[j] = d * Float((Int32(q[j] & 0x0F) | h0) - 16)
                        o[j + 16] = d * Float((Int32(q[j] >> 4) | h1) - 16)
                    }
                }
            }
        case .q5_1:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 32
                    let d = t[Int(u16(b, 0))], m = t[Int(u16(b, 2))]
                    let qh = UInt32(b[4]) | UInt32(b[5]) << 8 | UInt32(b[6]) << 16 | UInt32(b[7]) << 24
                    let q = b + 8
                    for j in 0..<16 {
                        let h0 = Int32((qh >> UInt32(j)) << 4 & 0x10), h1 = Int32((qh >> UInt32(j + 12)) & 0x10)
                        o[j] = d * Float(Int32(q[j] & 0x0F) | h0) + m
                        o[j + 16] = d * Float(Int32(q[j] >> 4) | h1) + m
                    }
                }
            }
        case .q4_K:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 256
                    let d = t[Int(u16(b, 0))], dmin = t[Int(u16(b, 2))]
                    let sc = b + 4, q = b + 16
                    for pair in 0..<4 {
                        let (s1, m1) = q4KScaleMin(2 * pair, sc), (s2, m2) = q4KScaleMin(2 * pair + 1, sc)
                        let d1 = d * Float(s1), c1 = dmin * Float(m1)
                        let d2 = d * Float(s2), c2 = dmin * Float(m2)
                        let qq = q + 32 * pair, oo = o + 64 * pair
                        for l in 0..<32 { oo[l] = d1 * Float(qq[l] & 0x0F) - c1 }
                        for l in 0..<32 { oo[l + 32] = d2 * Float(qq[l] >> 4) - c2 }
                    }
                }
            }
        case .q5_K:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 256
                    let d = t[Int(u16(b, 0))], dmin = t[Int(u16(b, 2))]
                    let sc = b + 4, qh = b + 16, q = b + 48
                    for pair in 0..<4 {
                        let (s1, m1) = q4KScaleMin(2 * pair, sc), (s2, m2) = q4KScaleMin(2 * pair + 1, sc)
                        let d1 = d * Float(s1), c1 = dmin * Float(m1)
                        let d2 = d * Float(s2), c2 = dmin * Float(m2)
                        let u1 = UInt8(1) << UInt8(2 * pair), u2 = UInt8(2) << UInt8(2 * pair)
                        let qq = q + 32 * pair, oo = o + 64 * pair
                        for l in 0..<32 { oo[l] = d1 * Float((qq[l] & 0x0F) | (qh[l] & u1 != 0 ? 16 : 0)) - c1 }
                        for l in 0..<32 { oo[l + 32] = d2 * Float((qq[l] >> 4) | (qh[l] & u2 != 0 ? 16 : 0)) - c2 }
                    }
                }
            }
        case .q6_K:
            halfTable.withUnsafeBufferPointer { t in
                for ib in 0..<nb {
                    let b = p + ib * bs, o = y + ib * 256
                    let d = t[Int(u16(b, 208))]
                    for n in 0..<2 {
                        let ql = b + 64 * n, qh = b + 128 + 32 * n, oo = o + 128 * n
                        let sc = UnsafeRawPointer(b + 192 + 8 * n).assumingMemoryBound(to: Int8.self)
                        for l in 0..<32 {
                            let i = l / 16
                            let h = qh[l]
                            let q1 = Int32((ql[l] & 0x0F) | (h & 3) << 4) - 32
                            let q2 = Int32((ql[l + 32] & 0x0F) | ((h >> 2) & 3) << 4) - 32
                            let q3 = Int32((ql[l] >> 4) | ((h >> 4) & 3) << 4) - 32
                            let q4 = Int32((ql[l + 32] >> 4) | ((h >> 6) & 3) << 4) - 32
                            oo[l] = d * Float(sc[i]) * Float(q1)
                            oo[l + 32] = d * Float(sc[i + 2]) * Float(q2)
                            oo[l + 64] = d * Float(sc[i + 4]) * Float(q3)
                            oo[l + 96] = d * Float(sc[i + 6]) * Float(q4)
                        }
                    }
                }
            }
        }
    }

    /// Convenience: decode `count` elements from a byte array (fast path).
    public static func decode(_ type: GGMLType, bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { decode(type, src, count: count, into: $0) } }
        return out
    }

    /// Convenience: decode `count` elements from a byte array with the reference decoder.
    public static func decodeReference(_ type: GGMLType, bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { decodeReference(type, src, count: count, into: $0) } }
        return out
    }
}
