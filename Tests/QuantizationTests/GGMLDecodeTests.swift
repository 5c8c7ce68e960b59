// GGML block formats: asserted block sizes, hand-packed blocks with exact expected values, and the fast
// decoders against the scalar reference on odd sizes. (gguf-py goldens are in ModelFormatsTests.)
import Testing
import Foundation
@testable import Quantization

/// Deterministic test data, ggml style: 0.1 + 2·cos(i + offset).
func testValue(_ i: Int, _ offset: Int = 0) -> Float { 0.1 + 2 * cos(Float(i + offset)) }
let oddSizes = [1, 2, 3, 5, 7, 15, 17, 31, 33, 63, 127, 255, 1023]

func halfBits(_ x: Float) -> [UInt8] {
    // exact for the values used here (k/2^n with few bits)
    let bits = x.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exp = Int((bits >> 23) & 0xFF) - 127 + 15
    let mant = UInt16((bits >> 13) & 0x3FF)
    let h: UInt16 = x == 0 ? sign : sign | UInt16(exp) << 10 | mant
    return [UInt8(h & 0xFF), UInt8(h >> 8)]
}

@Suite struct GGMLDecodeTests {
    @Test func blockSizes() {
        #expect(MemoryLayout<BlockQ4_0>.size == 18)
        #expect(MemoryLayout<BlockQ4_1>.size == 20)
        #expect(MemoryLayout<BlockQ8_0>.size == 34)
        #expect(MemoryLayout<BlockQ4_K>.size == 144)
        #expect(MemoryLayout<BlockQ6_K>.size == 210)
        let t = Dictionary(uniqueKeysWithValues: GGMLTypeTraits.all.map { ($0.type, ($0.blockSize, $0.bytesPerBlock)) })
        #expect(t[.f32]! == (1, 4) && t[.f16]! == (1, 2) && t[.bf16]! == (1, 2))
        #expect(t[.q4_0]! == (32, 18) && t[.q4_1]! == (32, 20) && t[.q8_0]! == (32, 34))
        #expect(t[.q4_K]! == (256, 144) && t[.q6_K]! == (256, 210))
        #expect(GGMLType.q4_K.byteCount(elements: 512) == 288)
        #expect(GGMLType.q4_0.byteCount(elements: 33) == nil)
    }

    @Test func fiveBitBlockSizes() {
        #expect(MemoryLayout<BlockQ5_0>.size == 22)
        #expect(MemoryLayout<BlockQ5_1>.size == 24)
        #expect(MemoryLayout<BlockQ5_K>.size == 176)
        let t = Dictionary(uniqueKeysWithValues: GGMLTypeTraits.all.map { ($0.type, ($0.blockSize, $0.bytesPerBlock)) })
        #expect(t[.q5_0]! == (32, 22) && t[.q5_1]! == (32, 24) && t[.q5_K]! == (256, 176))
        #expect(GGMLType(rawValue: 6) == .q5_0 && GGMLType(rawValue: 7) == .q5_1 && GGMLType(rawValue: 13) == .q5_K)
        #expect(GGMLType.q5_0.byteCount(elements: 640) == 440)
    }

    @Test func halfAndBF16() {
        #expect(ggmlHalfToFloat(0x3C00) == 1)
        #expect(ggmlHalfToFloat(0xC000) == -2)
        #expect(ggmlHalfToFloat(0x7BFF) == 65504)
        #expect(ggmlHalfToFloat(0x0001) == Float(sign: .plus, exponent: -24, significand: 1))
        #expect(ggmlHalfToFloat(0x0400) == Float(sign: .plus, exponent: -14, significand: 1))
        #expect(ggmlHalfToFloat(0x3555) == 0.333251953125)
        #expect(ggmlHalfToFloat(0x7C00) == .infinity)
        #expect(ggmlHalfToFloat(0xFE00).isNaN)
        #expect(ggmlHalfToFloat(0x8000).sign == .minus)
        #expect(ggmlBF16ToFloat(0x3F80) == 1)
        #expect(ggmlBF16ToFloat(0xC040) == -3)
        // the table agrees with the function everywhere (NaNs compared as NaN)
        for h in 0...0xFFFF {
            let a = halfTable[h], b = ggmlHalfToFloat(UInt16(h))
            #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN))
        }
    }

    func both(_ t: GGMLType, _ bytes: [UInt8], _ count: Int) -> ([Float], [Float]) {
        (GGMLDecoder.decodeReference(t, bytes: bytes, count: count), GGMLDecoder.decode(t, bytes: bytes, count: count))
    }

    @Test func handPackedQ8_0() {
        var b = halfBits(0.5)
        for j in 0..<32 { b.append(UInt8(bitPattern: Int8(j * 8 - 128))) }
        let (r, f) = both(.q8_0, b, 32)
        let expected: [Float] = (0..<32).map { j -> Float in 0.5 * Float(j * 8 - 128) }
        #expect(r == expected)
        #expect(f == r)
    }

    @Test func handPackedQ4_0() {
        var b = halfBits(2)
        for j in 0..<16 { b.append(UInt8(j) | UInt8(15 - j) << 4) }
        let (r, f) = both(.q4_0, b, 32)
        let lo: [Float] = (0..<16).map { j -> Float in 2 * Float(j - 8) }
        let hi: [Float] = (0..<16).map { j -> Float in 2 * Float(15 - j - 8) }
        #expect(r == lo + hi)
        #expect(f == r)
    }

    @Test func handPackedQ4_1() {
        var b = halfBits(0.5) + halfBits(-1)
        for j in 0..<16 { b.append(UInt8(j) | UInt8(15 - j) << 4) }
        let (r, f) = both(.q4_1, b, 32)
        let lo: [Float] = (0..<16).map { j -> Float in 0.5 * Float(j) - 1 }
        let hi: [Float] = (0..<16).map { j -> Float in 0.5 * Float(15 - j) - 1 }
        #expect(r == lo + hi)
        #expect(f == r)
    }

    @Test func handPackedQ4_K() {
        // sub-block s: scale sc[s], min m[s]; s ≥ 4 need their top 2 bits packed into bytes 0–7
        let sc: [UInt8] = [1, 2, 3, 63, 44, 45, 46, 47], mn: [UInt8] = [0, 2, 4, 6, 21, 22, 23, 60]
        var scales = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            scales[j] = sc[j] | (sc[j + 4] >> 4) << 6
            scales[j + 4] = mn[j] | (mn[j + 4] >> 4) << 6
            scales[j + 8] = (sc[j + 4] & 0x0F) | (mn[j + 4] & 0x0F) << 4
        }
        let qs = (0..<128).map { UInt8($0 % 16) | UInt8(($0 * 7) % 16) << 4 }
        let b = halfBits(0.25) + halfBits(0.125) + scales + qs
        #expect(b.count == 144)
        var expected = [Float]()
        for s in 0..<8 {
            for l in 0..<32 {
                let byte = qs[32 * (s / 2) + l]
                let q = s % 2 == 0 ? byte & 0x0F : byte >> 4
                expected.append(0.25 * Float(sc[s]) * Float(q) - 0.125 * Float(mn[s]))
            }
        }
        let (r, f) = both(.q4_K, b, 256)
        #expect(r == expected)
        #expect(f == r)
    }

    @Test func handPackedQ6_K() {
        // element e has 6-bit q(e) = (5e + 3) mod 64 and sub-block scale scales[e / 16] = e/16 − 8
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        for e in 0..<256 {
            let q = UInt8((5 * e + 3) % 64)
            let n = e / 128, r = e % 128, k = r / 32, l = r % 32
            let li = 64 * n + l + 32 * (k % 2)
            ql[li] |= k < 2 ? (q & 0x0F) : (q & 0x0F) << 4
            qh[32 * n + l] |= (q >> 4) << (2 * UInt8(k))
        }
        let scales = (0..<16).map { UInt8(bitPattern: Int8($0 - 8)) }
        let b = ql + qh + scales + halfBits(0.5)
        #expect(b.count == 210)
        let expected: [Float] = (0..<256).map { (e: Int) -> Float in
            let scale = Float(e / 16 - 8), q = Float((5 * e + 3) % 64 - 32)
            return 0.5 * scale * q
        }
        let (r, f) = both(.q6_K, b, 256)
        #expect(r == expected)
        #expect(f == r)
    }

    /// Q5_0 / Q5_1 block bytes for 5-bit codes `q` (32 values in 0..<32): fifth bits in a little-endian
    /// 32-bit qh (bit j for element j), low nibbles of elements j and j + 16 in byte j of qs.
    func packQ5(_ q: [UInt8]) -> [UInt8] {
        var qh: UInt32 = 0
        for j in 0..<32 where q[j] & 0x10 != 0 { qh |= 1 << UInt32(j) }
        return le32(qh) + (0..<16).map { (q[$0] & 0x0F) | (q[$0 + 16] & 0x0F) << 4 }
    }
    func le32(_ x: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: x >> (8 * $0)) } }

    @Test func handPackedQ5_0() {
        let q = (0..<32).map { UInt8((7 * $0 + 3) % 32) }           // every code, fifth bit set on about half
        let b = halfBits(0.5) + packQ5(q)
        #expect(b.count == 22)
        let (r, f) = both(.q5_0, b, 32)
        #expect(r == q.map { 0.5 * Float(Int($0) - 16) })
        #expect(f == r)
    }

    @Test func handPackedQ5_1() {
        let q = (0..<32).map { UInt8((11 * $0 + 5) % 32) }
        let b = halfBits(0.25) + halfBits(-2) + packQ5(q)
        #expect(b.count == 24)
        let (r, f) = both(.q5_1, b, 32)
        #expect(r == q.map { 0.25 * Float($0) - 2 })
        #expect(f == r)
    }

    @Test func handPackedQ5_K() {
        // scales and mins packed as Q4_K; element l of sub-block s has code q = (5s + 3l + 1) mod 32 (so the
        // fifth bits of one qh[l] differ between sub-blocks), its low nibble in qs (as Q4_K) and its fifth bit
        // as bit s of qh[l]
        let sc: [UInt8] = [1, 2, 3, 63, 44, 45, 46, 47], mn: [UInt8] = [0, 2, 4, 6, 21, 22, 23, 60]
        var scales = [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            scales[j] = sc[j] | (sc[j + 4] >> 4) << 6
            scales[j + 4] = mn[j] | (mn[j + 4] >> 4) << 6
            scales[j + 8] = (sc[j + 4] & 0x0F) | (mn[j + 4] & 0x0F) << 4
        }
        var qh = [UInt8](repeating: 0, count: 32), qs = [UInt8](repeating: 0, count: 128)
        var expected = [Float]()
        for s in 0..<8 {
            for l in 0..<32 {
                let q = UInt8((5 * s + 3 * l + 1) % 32)
                qs[32 * (s / 2) + l] |= s % 2 == 0 ? q & 0x0F : (q & 0x0F) << 4
                qh[l] |= (q >> 4) << UInt8(s)
                expected.append(0.25 * Float(sc[s]) * Float(q) - 0.125 * Float(mn[s]))
            }
        }
        let b = halfBits(0.25) + halfBits(0.125) + scales + qh + qs
        #expect(b.count == 176)
        let (r, f) = both(.q5_K, b, 256)
        #expect(r == expected)
        #expect(f == r)
    }

    @Test func plainFloats() {
        let xs: [Float] = [1.5, -0.25, 3e-5, 65504]
        let f32 = xs.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        #expect(both(.f32, f32, 4).0 == xs && both(.f32, f32, 4).1 == xs)
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B]
        #expect(both(.f16, f16, 3).0 == [1, -2, 65504] && both(.f16, f16, 3).1 == [1, -2, 65504])
        let bf: [UInt8] = [0x80, 0x3F, 0x40, 0xC0]
        #expect(both(.bf16, bf, 2).0 == [1, -3] && both(.bf16, bf, 2).1 == [1, -3])
    }

    /// Bytes for `blocks` blocks of `t` from the cos formula, with finite fp16 scale fields.
    func testBlocks(_ t: GGMLType, _ blocks: Int) -> [UInt8] {
        let bs = t.traits.bytesPerBlock
        var b = (0..<(blocks * bs)).map { UInt8(truncatingIfNeeded: Int((testValue($0, 7) * 1000).rounded())) }
        for k in 0..<blocks {
            let o = k * bs
            let d = halfBits(Float(testValue(k, 1) / 64))
            switch t {
            case .q4_0, .q8_0, .q5_0: b[o] = d[0]; b[o + 1] = d[1]
            case .q4_1, .q4_K, .q5_1, .q5_K: b[o] = d[0]; b[o + 1] = d[1]; let m = halfBits(Float(testValue(k, 2) / 16)); b[o + 2] = m[0]; b[o + 3] = m[1]
            case .q6_K: b[o + 208] = d[0]; b[o + 209] = d[1]
            default: break
            }
        }
        return b
    }

    @Test("fast decoder equals the reference on odd sizes", arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K])
    func fastVersusReferenceQuantized(_ t: GGMLType) {
        for n in oddSizes.filter({ $0 <= 63 }) {
            let b = testBlocks(t, n)
            let (r, f) = both(t, b, n * t.traits.blockSize)
            let finite = r.allSatisfy { $0.isFinite }
            #expect(finite)
            #expect(f == r, "\(t), \(n) blocks")
        }
    }

    @Test("fast decoder equals the reference on odd element counts", arguments: [GGMLType.f32, .f16, .bf16])
    func fastVersusReferenceFloats(_ t: GGMLType) {
        for n in oddSizes {
            var b: [UInt8] = []
            for i in 0..<n {
                let v = testValue(i)
                switch t {
                case .f32: withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 }
                case .f16: b += halfBits(Float(v).rounded(toPlaces: 6))
                default: let x = UInt16(v.bitPattern >> 16); b += [UInt8(x & 0xFF), UInt8(x >> 8)]
                }
            }
            let (r, f) = both(t, b, n)
            #expect(f.elementsEqual(r) { $0.bitPattern == $1.bitPattern }, "\(t), \(n) elements")
        }
    }
}

extension Float {
    /// Truncates to a value representable in fp16 precision (10 mantissa bits), for halfBits.
    func rounded(toPlaces _: Int) -> Float { Float(bitPattern: bitPattern & 0xFFFF_E000) }
}
