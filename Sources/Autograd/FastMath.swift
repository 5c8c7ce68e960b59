// Vectorised exp, max and sums for the softmax-like kernels (explicit SIMD16, i.e. one AVX-512 register).
// Not a libm replacement: inputs below −87 give ~1e-38 instead of 0, relative error ≈ 2e-7.

typealias F16 = SIMD16<Float>

/// e^x by range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 Taylor polynomial for e^r
/// (truncation error r⁷/7! ≈ 1.2e-7) and 2ⁿ built in the exponent bits.
@inline(__always) func fastExp(_ x: F16) -> F16 {
    // Written with explicit vector constants and masks: the generic `clamped`, scalar-broadcast
    // operators and `&<<` of the SIMD protocols were measured 30× slower (not specialised).
    var xc = x
    xc.replace(with: F16(repeating: -87), where: x .< -87)
    xc.replace(with: F16(repeating: 88), where: x .> 88)
    let magic = F16(repeating: 12_582_912)   // 1.5·2²³: adding it rounds to an integer kept in the low mantissa bits
    let t = xc * F16(repeating: 1.442_695_04) + magic
    let n = t - magic
    let r = xc - n * F16(repeating: 0.693_145_75) - n * F16(repeating: 1.428_606_8e-6)   // ln2 split: n·ln2_hi exact
    var p = F16(repeating: 1.0 / 720)
    p = p * r + F16(repeating: 1.0 / 120)
    p = p * r + F16(repeating: 1.0 / 24)
    p = p * r + F16(repeating: 1.0 / 6)
    p = p * r + F16(repeating: 0.5)
    p = p * r + F16(repeating: 1)
    p = p * r + F16(repeating: 1)
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let e = (ni &+ SIMD16<Int32>(repeating: 127)) &* SIMD16<Int32>(repeating: 1 << 23)   // 2ⁿ in the exponent field
    return p * unsafeBitCast(e, to: F16.self)
}

/// Scalar form of the same approximation (for tails; LLVM vectorises loops of it).
@inline(__always) func fastExp(_ x: Float) -> Float {
    let xc = x < -87 ? -87 : (x > 88 ? 88 : x)
    let magic: Float = 12_582_912
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    let r = xc - n * 0.693_145_75 - n * 1.428_606_8e-6
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let ni = Int32(bitPattern: t.bitPattern) &- Int32(bitPattern: magic.bitPattern)
    return p * Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
}

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> F16 { UnsafeRawPointer(p).loadUnaligned(as: F16.self) }
@inline(__always) func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self) }

/// dst[j] = e^(src[j] − shift) for j in 0..<n; returns Σ dst. `dst` may equal `src`.
@inline(__always) func expShiftSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = F16(), j = 0
    while j + 16 <= n { let e = fastExp(load16(src + j) - F16(repeating: shift)); store16(e, dst + j); acc += e; j += 16 }
    var s = acc.sum()
    while j < n { let e = fastExp(src[j] - shift); dst[j] = e; s += e; j += 1 }
    return s
}

/// Σ e^(src[j] − shift) without storing.
@inline(__always) func expShiftSumOnly(_ src: UnsafePointer<Float>, _ n: Int, shift: Float) -> Float {
    var acc = F16(), j = 0
    while j + 16 <= n { acc += fastExp(load16(src + j) - F16(repeating: shift)); j += 16 }
    var s = acc.sum()
    while j < n { s += fastExp(src[j] - shift); j += 1 }
    return s
}

/// dst[j] = e^(src[j] − shift) · k.
@inline(__always) func expShiftScale(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, shift: Float, scale k: Float) {
    var j = 0
    while j + 16 <= n { store16(fastExp(load16(src + j) - F16(repeating: shift)) * F16(repeating: k), dst + j); j += 16 }
    while j < n { dst[j] = fastExp(src[j] - shift) * k; j += 1 }
}

@inline(__always) func rowMax(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16(repeating: -.infinity), j = 0
    while j + 16 <= n { let v = load16(a + j); acc.replace(with: v, where: v .> acc); j += 16 }
    var m = acc.max()
    while j < n { m = Swift.max(m, a[j]); j += 1 }
    return m
}

/// Σ a[j]·b[j]
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16(), j = 0
    while j + 16 <= n { acc += load16(a + j) * load16(b + j); j += 16 }
    var s = acc.sum()
    while j < n { s += a[j] * b[j]; j += 1 }
    return s
}

/// Σ a[j]·b[j]·c[j]
@inline(__always) func dot3(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = F16(), j = 0
    while j + 16 <= n { acc += load16(a + j) * load16(b + j) * load16(c + j); j += 16 }
    var s = acc.sum()
    while j < n { s += a[j] * b[j] * c[j]; j += 1 }
    return s
}
