// NF4 4-bit NormalFloat weights with optional double quantization, in exactly the layout of QLoRA
// (Dettmers et al., arXiv 2305.14314) as bitsandbytes stores it; scalar reference and fast dequantisers.
// Not the matmul kernels (NF4Kernels.swift) and not a general quantizer (GGML formats are decoded elsewhere).
import Autograd
import Foundation

/// The 16 NF4 code values: quantiles of N(0, 1) normalised to [−1, 1] with an exact zero
/// (QLoRA §3, "4-bit NormalFloat"). Hard-coded as bitsandbytes does, to avoid needing an inverse normal
/// CDF at run time; `NF4Tests` regenerates them from one (`create_normal_map(offset=0.9677083)`).
public let nf4Code: [Float] = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]

/// Midpoints between consecutive codes. A normalised value goes to the first code whose upper midpoint
/// it does not exceed, so a value exactly on a midpoint goes to the LOWER code (bitsandbytes uses
/// `torch.bucketize(x, midpoints)` with right=False, and its CUDA decision tree compares with `>`).
let nf4Midpoints: [Float] = (0..<15).map { (nf4Code[$0] + nf4Code[$0 + 1]) / 2 }

/// The code index of a value already divided by its block's absmax.
@inline(__always) func nf4Index(_ x: Float) -> UInt8 {
    // 4-level binary search over the 15 midpoints (the same answer as a linear scan).
    var lo = 0, hi = 15            // answer in lo...hi
    while lo < hi {
        let mid = (lo + hi) / 2
        if x > nf4Midpoints[mid] { lo = mid + 1 } else { hi = mid }
    }
    return UInt8(lo)
}

/// bitsandbytes' signed 8-bit dynamic map (`create_dynamic_map(signed=True, max_exponent_bits=7,
/// total_bits=8)`; Dettmers et al., "8-bit Optimizers via Block-wise Quantization", arXiv 2110.02861):
/// for exponent i = 0…6, the 2ⁱ midpoints of `linspace(0.1, 1, 2ⁱ + 1)` scaled by 10^(i−6), with both
/// signs, plus 0 and 1; sorted. Computed in Float32 as torch does.
public let dynamicMapSigned: [Float] = {
    var data: [Float] = []
    for i in 0..<7 {
        let n = (1 << i) + 1
        // torch.linspace (CPU, float32): start + step·k for the first half, end − step·(n−1−k) after.
        let start: Float = 0.1, end: Float = 1, step = (end - start) / Float(n - 1)
        let bounds = (0..<n).map { k in k < n / 2 ? start + step * Float(k) : end - step * Float(n - 1 - k) }
        // Python's 10 ** (i − 6), correctly rounded, then to Float32 as torch multiplies.
        let scale = Float([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0][i])
        let means = (0..<(n - 1)).map { (bounds[$0] + bounds[$0 + 1]) / 2 }
        data += means.map { scale * $0 }
        data += means.map { -scale * $0 }
    }
    data += [0, 1]
    return data.sorted()
}()

/// Absmax values of the 64-blocks quantized again (QLoRA §3, "Double Quantization"): their mean is
/// subtracted, the centred values are split into blocks of 256, each scaled by its largest magnitude and
/// stored as the index of the nearest entry of `dynamicMapSigned`.
///     absmax[i] = dynamicMapSigned[codes[i]] · blockMax[i / 256] + offset
public struct DoubleQuantizedScales: Sendable, Equatable {
    public static let blockSize = 256
    public var codes: [UInt8]
    public var blockMax: [Float]
    public var offset: Float

    public init(codes: [UInt8], blockMax: [Float], offset: Float) {
        self.codes = codes; self.blockMax = blockMax; self.offset = offset
    }

    /// Quantizes `absmax` as bitsandbytes' `quantize_blockwise(absmax − mean, code=dynamic map, blocksize=256)`.
    public init(quantizing absmax: [Float]) {
        // torch's mean of a float32 tensor, accumulated in higher precision and rounded once.
        offset = absmax.isEmpty ? 0 : Float(absmax.reduce(0.0) { $0 + Double($1) } / Double(absmax.count))
        let map = dynamicMapSigned
        var codes = [UInt8](repeating: 0, count: absmax.count)
        var maxima: [Float] = []
        for start in stride(from: 0, to: absmax.count, by: Self.blockSize) {
            let end = min(absmax.count, start + Self.blockSize)
            var m: Float = 0
            for i in start..<end { m = max(m, abs(absmax[i] - offset)) }
            maxima.append(m)
            for i in start..<end {
                let v = m > 0 ? (absmax[i] - offset) / m : 0
                // Binary search for the last entry ≤ v, then the nearer of it and its right neighbour
                // (the right one only when strictly nearer), as bitsandbytes' CPU quantize_block.
                var lo = 0, hi = map.count - 1
                while lo < hi { let mid = (lo + hi + 1) / 2; if map[mid] <= v { lo = mid } else { hi = mid - 1 } }
                if lo < map.count - 1 && abs(v - map[lo + 1]) < abs(v - map[lo]) { lo += 1 }
                codes[i] = UInt8(lo)
            }
        }
        self.codes = codes
        blockMax = maxima
    }

    /// The 64-block absmax values back in Float32.
    public func decode() -> [Float] {
        let map = dynamicMapSigned
        return codes.enumerated().map { i, c in map[Int(c)] * blockMax[i / Self.blockSize] + offset }
    }
}

/// A Float32 copy of a 4-bit weight (NF4 or GGML blocks), made on request and then read by the products
/// instead of dequantising tile by tile (the same values, so the same products). For small models, where
/// dequantising every tile of every product is a large part of a prefill or a training step; never made
/// unless asked (7B models need the memory: 4 bytes per element, about 7.75× the 4-bit bytes).
final class DenseCopy: @unchecked Sendable {
    private var values: UnsafeMutablePointer<Float>?
    private let lock = NSLock()
    deinit { values?.deallocate() }
    /// The copy, if made.
    var current: UnsafePointer<Float>? { lock.lock(); defer { lock.unlock() }; return values.map { UnsafePointer($0) } }
    /// Makes the copy of `count` values, written by `fill`, unless it exists.
    func make(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) {
        lock.lock(); defer { lock.unlock() }
        guard values == nil else { return }
        let v = UnsafeMutablePointer<Float>.allocate(capacity: count)
        fill(v)
        values = v
    }
    func drop() { lock.lock(); defer { lock.unlock() }; values?.deallocate(); values = nil }
}

/// A row-major (rows = out, columns = in) weight in NF4: blocks of 64 consecutive elements of the flattened
/// weight, each with a Float32 absmax (or a double-quantized one), two codes per byte, the first element
/// in the HIGH nibble. Storage per element: 0.5 byte + 4/64 (absmax) = 0.5625 byte, or with double
/// quantization 0.5 + 1/64 + 4/16384 ≈ 0.5159 byte.
///
///     let w = NF4Matrix(quantizing: weights, rows: 1536, columns: 576, doubleQuantization: true)
///     let back = w.dequantized()               // [Float], rows × columns
public struct NF4Matrix: Sendable {
    public static let blockSize = 64
    public let rows: Int
    public let columns: Int
    /// ⌈rows·columns / 2⌉ bytes; an odd count ends with the code of a padding 0.0 (7), as bitsandbytes pads.
    public let codes: [UInt8]
    public enum Scales: Sendable, Equatable {
        case float([Float])
        case doubleQuantized(DoubleQuantizedScales)
    }
    public let scales: Scales
    /// The Float32 absmax of every block (decoded once from double quantization).
    public let absmax: [Float]
    /// The dequantised weight, when `keepDequantizedCopy(true)` made it; shared by copies of this matrix.
    let dense: DenseCopy

    public var count: Int { rows * columns }
    public var blockCount: Int { (count + Self.blockSize - 1) / Self.blockSize }

    public init(rows: Int, columns: Int, codes: [UInt8], scales: Scales) {
        self.rows = rows; self.columns = columns; self.codes = codes; self.scales = scales
        dense = DenseCopy()
        switch scales {
        case .float(let a): absmax = a
        case .doubleQuantized(let d): absmax = d.decode()
        }
    }

    /// Quantizes `values` (rows·columns, row-major) as bitsandbytes' `quantize_4bit(quant_type="nf4",
    /// blocksize=64)`, optionally with `compress_statistics` (double quantization).
    public init(quantizing values: UnsafeBufferPointer<Float>, rows: Int, columns: Int, doubleQuantization: Bool = false) {
        let n = rows * columns
        precondition(values.count == n, "NF4Matrix: \(values.count) values for \(rows)×\(columns)")
        let blocks = (n + Self.blockSize - 1) / Self.blockSize
        var absmax = [Float](repeating: 0, count: blocks)
        var codes = [UInt8](repeating: 0, count: (n + 1) / 2)
        codes.withUnsafeMutableBufferPointer { out in
            absmax.withUnsafeMutableBufferPointer { am in
                let v = values.baseAddress!, o = out.baseAddress!, a = am.baseAddress!
                // Blocks are independent and start at even elements, so no two workers share a byte.
                parallelFor(blocks, costPerItem: Self.blockSize * 4) { quantizeBlocks($0, v, n, o, a) }
            }
        }
        let scales: Scales = doubleQuantization ? .doubleQuantized(DoubleQuantizedScales(quantizing: absmax)) : .float(absmax)
        self.init(rows: rows, columns: columns, codes: codes, scales: scales)
    }

    public init(quantizing values: [Float], rows: Int, columns: Int, doubleQuantization: Bool = false) {
        self = values.withUnsafeBufferPointer { NF4Matrix(quantizing: $0, rows: rows, columns: columns, doubleQuantization: doubleQuantization) }
    }

    /// Keeps (or drops) a Float32 copy of this weight that products read instead of dequantising.
    public func keepDequantizedCopy(_ on: Bool) {
        if on { dense.make(count: count) { dequantize(elements: 0..<count, into: $0) } } else { dense.drop() }
    }

    /// Bytes held: codes plus scales.
    public var byteCount: Int {
        switch scales {
        case .float(let a): return codes.count + 4 * a.count
        case .doubleQuantized(let d): return codes.count + d.codes.count + 4 * d.blockMax.count + 4
        }
    }

    /// Reference dequantisation, one element at a time: code value × absmax (Float32, as bitsandbytes).
    public func dequantizedReference() -> [Float] {
        (0..<count).map { i in
            let byte = codes[i / 2]
            let c = i % 2 == 0 ? byte >> 4 : byte & 0x0F
            return nf4Code[Int(c)] * absmax[i / Self.blockSize]
        }
    }

    /// All elements, row-major.
    public func dequantized() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            dequantize(elements: 0..<count, into: buf.baseAddress!)
            n = count
        }
    }

    /// Elements `rows.lowerBound·columns ..< rows.upperBound·columns` into `out` (row-major).
    public func dequantize(rows r: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        dequantize(elements: (r.lowerBound * columns)..<(r.upperBound * columns), into: out)
    }

    /// Flattened elements `range` into `out`, through a 256-entry table of code pairs.
    public func dequantize(elements range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let bs = Self.blockSize, end = range.upperBound
        codes.withUnsafeBufferPointer { cb in absmax.withUnsafeBufferPointer { ab in nf4PairTable.withUnsafeBufferPointer { tb in
            let c = cb.baseAddress!, a = ab.baseAddress!, table = tb.baseAddress!
            var i = range.lowerBound
            var o = out
            while i < end {
                let blockEnd = min(end, (i / bs + 1) * bs)
                let scale = a[i / bs]
                if i % 2 == 1 { o.pointee = nf4Code[Int(c[i / 2] & 0x0F)] * scale; o += 1; i += 1 }
                let s2 = SIMD2<Float>(repeating: scale)
                while i + 1 < blockEnd {   // blocks start at even elements, so pairs stay in one byte
                    let pair = table[Int(c[i / 2])] * s2
                    o[0] = pair.x; o[1] = pair.y
                    o += 2; i += 2
                }
                if i < blockEnd { o.pointee = nf4Code[Int(c[i / 2] >> 4)] * scale; o += 1; i += 1 }
            }
        } } }
    }
}

/// (code[hi], code[lo]) for every byte.
let nf4PairTable: [SIMD2<Float>] = (0..<256).map { SIMD2(nf4Code[$0 >> 4], nf4Code[$0 & 15]) }

/// Quantizes blocks `blocks` of `v` (n values) into packed `out` and `absmax`, one element at a time:
/// the oracle of `quantizeBlocks`.
func quantizeBlocksReference(_ blocks: Range<Int>, _ v: UnsafePointer<Float>, _ n: Int,
                             _ out: UnsafeMutablePointer<UInt8>, _ absmax: UnsafeMutablePointer<Float>) {
    let bs = NF4Matrix.blockSize
    for b in blocks {
        let lo = b * bs, hi = min(n, lo + bs)
        var m: Float = 0
        for i in lo..<hi { m = max(m, abs(v[i])) }
        absmax[b] = m
        // torch: clamp(x · (1 / max(absmax, 1e-38)), −1, 1); an all-zero block gives code 7 (zero).
        let inv = 1 / max(m, 1e-38)
        for i in lo..<hi {
            let q = nf4Index(min(1, max(-1, v[i] * inv)))
            if i % 2 == 0 { out[i / 2] = q << 4 } else { out[i / 2] |= q }
        }
        // bitsandbytes pads an odd total with a 0.0, whose code (7) fills the last low nibble.
        if hi == n && n % 2 == 1 { out[n / 2] |= 7 }
    }
}

/// Quantizes blocks `blocks` of `v` (n values) into packed `out` and `absmax`; the same bytes as
/// `quantizeBlocksReference`, without its data-dependent branches (a binary search over random weights
/// mispredicts about every other step). The code of a normalised value y is the number of midpoints below
/// it, Σⱼ [y > midⱼ], and y > midⱼ exactly when midⱼ − y is negative: its sign bit (a difference of two
/// distinct floats is never zero, and y = midⱼ gives +0). The loop over a block's 64 values vectorises.
/// A short last block goes through the reference.
@inline(__always)
func quantizeBlocks(_ blocks: Range<Int>, _ v: UnsafePointer<Float>, _ n: Int,
                    _ out: UnsafeMutablePointer<UInt8>, _ absmax: UnsafeMutablePointer<Float>) {
    let bs = NF4Matrix.blockSize
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 15) { mids in
    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: bs) { codes in
        for j in 0..<15 { mids[j] = nf4Midpoints[j] }
        let c = codes.baseAddress!, mid = mids.baseAddress!
        for b in blocks {
            let lo = b * bs
            guard lo + bs <= n else { quantizeBlocksReference(b..<(b + 1), v, n, out, absmax); continue }
            let x = v + lo
            var m: Float = 0
            for i in 0..<bs { m = max(m, abs(x[i])) }
            absmax[b] = m
            let inv = 1 / max(m, 1e-38)
            for i in 0..<bs {
                let y = min(1, max(-1, x[i] * inv))
                var k: UInt32 = 0
                for j in 0..<15 { k &+= (mid[j] - y).bitPattern >> 31 }
                c[i] = k
            }
            let o = out + lo / 2
            for j in 0..<(bs / 2) { o[j] = UInt8(truncatingIfNeeded: c[2 * j] << 4 | c[2 * j + 1]) }
        }
    } }
}
