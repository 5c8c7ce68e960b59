// Vectorisable exp for the softmax-like kernels (branch-free loop LLVM turns into AVX-512).
// Not a libm replacement: inputs below −87 give ~1e-38 instead of 0, relative error ≈ 2e-7.

/// e^x by range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 Taylor polynomial for e^r
/// (truncation error r⁷/7! ≈ 1.2e-7) and 2ⁿ built in the exponent bits.
@inline(__always) func fastExp(_ x: Float) -> Float {
    let xc = Swift.min(Swift.max(x, -87.0), 88.0)
    let magic: Float = 12_582_912          // 1.5·2²³: adding it rounds to an integer kept in the low mantissa bits
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    let r = xc - n * 0.693_145_75 - n * 1.428_606_8e-6   // ln2 split in two for exact n·ln2_hi
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let ni = Int32(bitPattern: t.bitPattern) &- Int32(bitPattern: magic.bitPattern)
    let scale = Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
    return p * scale
}

/// dst[j] = e^(src[j] − shift) for j in 0..<n; returns Σ dst.
@inline(__always) func expShiftSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    var s: Float = 0
    for j in 0..<n { let e = fastExp(src[j] - shift); dst[j] = e; s += e }
    return s
}

/// Σ e^(src[j] − shift) without storing.
@inline(__always) func expShiftSumOnly(_ src: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    var s: Float = 0
    for j in 0..<n { s += fastExp(src[j] - shift) }
    return s
}

@inline(__always) func rowMax(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var m = -Float.infinity
    for j in 0..<n { m = Swift.max(m, a[j]) }
    return m
}
