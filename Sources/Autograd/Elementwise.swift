// Broadcasting binary ops (numpy rules), scalar ops, unary maths and SiLU, with their backward rules.
// Gradients of broadcast inputs are reduced in Tape.backward (unbroadcast), never in these rules.
import Foundation

/// numpy broadcast of two shapes; throws naming `op`.
func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        guard da == db || da == 1 || db == 1 else {
            throw TensorError("\(op): shapes do not broadcast: \(fmt(a)) and \(fmt(b))")
        }
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Element strides of `shape` viewed inside `outShape` (0 along broadcast dimensions).
func broadcastStrides(_ shape: [Int], in outShape: [Int]) -> [Int] {
    let r = outShape.count
    var strides = [Int](repeating: 0, count: r)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let oi = i + (r - shape.count)
        strides[oi] = shape[i] == 1 ? 0 : s
        s *= shape[i]
    }
    return strides
}

/// out[i] = f(a[ia], b[ib]) over `outShape` (both inputs broadcastable to it). Fast paths for equal
/// shapes, scalars and a trailing-suffix operand; a general strided walk otherwise.
/// An elementwise function of two floats. Kernels are generic over it so each op's loop is specialised,
/// inlined and vectorised (a closure would be an indirect call per element).
protocol BinaryFn { func callAsFunction(_ a: Float, _ b: Float) -> Float; func vec(_ a: F16, _ b: F16) -> F16 }
protocol UnaryFn { func callAsFunction(_ x: Float) -> Float; func vec(_ x: F16) -> F16 }
extension BinaryFn {
    @inline(__always) func vec(_ a: F16, _ b: F16) -> F16 { var r = F16(); for i in 0..<16 { r[i] = self(a[i], b[i]) }; return r }
}
extension UnaryFn {
    @inline(__always) func vec(_ x: F16) -> F16 { var r = F16(); for i in 0..<16 { r[i] = self(x[i]) }; return r }
}
struct AddFn: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct SubFn: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct MulFn: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct DivFn: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
struct FirstFn: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a } }
struct NegDivFn: BinaryFn { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { -a / b } }
struct SqrtGradFn: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * 0.5 / y } }
struct RsqrtGradFn: BinaryFn { @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { -0.5 * g * y * y * y } }
struct SiluGradFn: BinaryFn {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { let s = 1 / (1 + fastExp(-x)); return g * s * (1 + x * (1 - s)) }
    @inline(__always) func vec(_ g: F16, _ x: F16) -> F16 {
        let one = F16(repeating: 1), s = one / (one + fastExp(-x)); return g * s * (one + x * (one - s))
    }
}
/// Constants of the tanh approximation of GELU (Hendrycks & Gimpel 2016, §2): √(2/π) and the cubic
/// coefficient, as PyTorch's `gelu(approximate="tanh")` (HF `gelu_pytorch_tanh`) uses them.
let geluTanhBeta: Float = 0.7978845608028654, geluTanhKappa: Float = 0.044715
// ½·x·(1 + tanh u) = x·σ(2u) = x / (1 + e^(−2u)): one vectorised exponential (fastExp) in place of libm's
// tanhf, which is scalar and goes through expm1f (a fifth of Gemma 3's prefill time was spent there).
struct GeluTanhFn: UnaryFn {
    /// Below this u, e^(−2u) would pass fastExp's clamp: the value is 0, as ½·x·(1 + tanh u) rounds it in Float.
    static let floor: Float = -43.5
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        let u = geluTanhBeta * (x + geluTanhKappa * (x * x * x))
        return u < Self.floor ? 0 : x / (1 + fastExp(-2 * u))
    }
    @inline(__always) func vec(_ x: F16) -> F16 {
        let u = F16(repeating: geluTanhBeta) * (x + F16(repeating: geluTanhKappa) * (x * x * x))
        var y = x / (F16(repeating: 1) + fastExp(F16(repeating: -2) * u))
        y.replace(with: F16(), where: u .< F16(repeating: Self.floor))
        return y
    }
}
// With s = σ(2u) = ½(1 + tanh u):  dy/dx = s + 2·x·s·(1 − s)·√(2/π)·(1 + 3·0.044715·x²).
struct GeluTanhGradFn: BinaryFn {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        let s = 1 / (1 + fastExp(-2 * geluTanhBeta * (x + geluTanhKappa * (x * x * x))))
        return g * (s + 2 * x * s * (1 - s) * geluTanhBeta * (1 + 3 * geluTanhKappa * x * x))
    }
    @inline(__always) func vec(_ g: F16, _ x: F16) -> F16 {
        let one = F16(repeating: 1), beta = F16(repeating: geluTanhBeta), kappa = F16(repeating: geluTanhKappa)
        let s = one / (one + fastExp(F16(repeating: -2) * beta * (x + kappa * (x * x * x))))
        return g * (s + F16(repeating: 2) * x * s * (one - s) * beta * (one + F16(repeating: 3) * kappa * x * x))
    }
}
struct ClosureFn: BinaryFn { let f: (Float, Float) -> Float; func callAsFunction(_ a: Float, _ b: Float) -> Float { f(a, b) } }
struct NegFn: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { -x } }
struct AddSFn: UnaryFn { let s: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { x + s } }
struct MulSFn: UnaryFn { let s: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { x * s } }
struct ExpFn: UnaryFn {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { fastExp(x) }
    @inline(__always) func vec(_ x: F16) -> F16 { fastExp(x) }
}
struct LogFn: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.log(x) } }
struct SqrtFn: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() } }
struct RsqrtFn: UnaryFn { @inline(__always) func callAsFunction(_ x: Float) -> Float { 1 / x.squareRoot() } }
struct SiluFn: UnaryFn {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x / (1 + fastExp(-x)) }
    @inline(__always) func vec(_ x: F16) -> F16 { x / (F16(repeating: 1) + fastExp(-x)) }
}

@inline(__always)
func binaryKernel(_ a: Tensor, _ b: Tensor, _ outShape: [Int], _ f: @escaping (Float, Float) -> Float) -> Tensor {
    binaryKernel(a, b, outShape, ClosureFn(f: f))
}

@inline(__always)
func binaryKernel<F: BinaryFn>(_ a: Tensor, _ b: Tensor, _ outShape: [Int], _ f: F) -> Tensor {
    let out = Tensor(uninitialized: outShape)
    let n = out.count, pa = a.data, pb = b.data, po = out.data
    if n == 0 { return out }
    if a.count == n && b.count == n {
        parallelFor(n, costPerItem: 1) { r in
            var i = r.lowerBound
            while i + 16 <= r.upperBound { store16(f.vec(load16(pa + i), load16(pb + i)), po + i); i += 16 }
            while i < r.upperBound { po[i] = f(pa[i], pb[i]); i += 1 }
        }
        return out
    }
    if a.count == n && b.count == 1 {
        let s = pb[0]; parallelFor(n) { r in for i in r { po[i] = f(pa[i], s) } }; return out
    }
    if a.count == 1 && b.count == n {
        let s = pa[0]; parallelFor(n) { r in for i in r { po[i] = f(s, pb[i]) } }; return out
    }
    // (…, C) op (C): b repeats every row.
    if a.count == n, b.count > 0, n % b.count == 0, Array(outShape.suffix(b.shape.count)) == b.shape {
        let c = b.count, rows = n / c
        parallelFor(rows, costPerItem: c) { r in
            for row in r { let o = row * c; for j in 0..<c { po[o + j] = f(pa[o + j], pb[j]) } }
        }
        return out
    }
    if b.count == n, a.count > 0, n % a.count == 0, Array(outShape.suffix(a.shape.count)) == a.shape {
        let c = a.count, rows = n / c
        parallelFor(rows, costPerItem: c) { r in
            for row in r { let o = row * c; for j in 0..<c { po[o + j] = f(pa[j], pb[o + j]) } }
        }
        return out
    }
    // General: walk the output with the last dimension innermost.
    let sa = broadcastStrides(a.shape, in: outShape), sb = broadcastStrides(b.shape, in: outShape)
    let r = outShape.count, last = outShape[r - 1], la = sa[r - 1], lb = sb[r - 1]
    var idx = [Int](repeating: 0, count: r)
    var o = 0, ia = 0, ib = 0
    while o < n {
        for j in 0..<last { po[o + j] = f(pa[ia + j * la], pb[ib + j * lb]) }
        o += last
        var d = r - 2
        while d >= 0 {
            idx[d] += 1; ia += sa[d]; ib += sb[d]
            if idx[d] < outShape[d] { break }
            ia -= sa[d] * outShape[d]; ib -= sb[d] * outShape[d]; idx[d] = 0; d -= 1
        }
    }
    return out
}

@inline(__always)
func unaryKernel<F: UnaryFn>(_ x: Tensor, _ f: F) -> Tensor {
    let out = Tensor(uninitialized: x.shape), px = x.data, po = out.data
    parallelFor(x.count, costPerItem: 4) { r in
        var i = r.lowerBound
        while i + 16 <= r.upperBound { store16(f.vec(load16(px + i)), po + i); i += 16 }
        while i < r.upperBound { po[i] = f(px[i]); i += 1 }
    }
    return out
}

/// Materialise `x` broadcast to `shape` (not recorded).
func broadcastRaw(_ x: Tensor, to shape: [Int]) -> Tensor {
    binaryKernel(x, Tensor.zeros([]), shape, FirstFn())
}
/// a + b for equal shapes (not recorded).
func addRaw(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard a.shape == b.shape else { throw TensorError("add: shapes differ: \(fmt(a.shape)) and \(fmt(b.shape))") }
    return binaryKernel(a, b, a.shape, AddFn())
}
/// dst += src (same count).
func addInPlace(_ dst: Tensor, _ src: Tensor) {
    let pd = dst.data, ps = src.data
    parallelFor(dst.count) { r in for i in r { pd[i] += ps[i] } }
}
/// Sum `g` down to `shape` (the inverse of numpy broadcasting). The single place gradients are un-broadcast.
func unbroadcast(_ g: Tensor, to shape: [Int]) throws -> Tensor {
    let extra = g.rank - shape.count
    guard extra >= 0 else { throw TensorError("unbroadcast: gradient \(fmt(g.shape)) has fewer dims than \(fmt(shape))") }
    var axes: [Int] = Array(0..<extra)
    for (i, d) in shape.enumerated() where d == 1 && g.shape[i + extra] != 1 { axes.append(i + extra) }
    for (i, d) in shape.enumerated() where d != 1 && g.shape[i + extra] != d {
        throw TensorError("unbroadcast: gradient \(fmt(g.shape)) does not reduce to \(fmt(shape))")
    }
    let s = sumRaw(g, axes: axes)
    return Tensor(storage: s.storage, shape: shape)
}

// MARK: - Binary ops

/// c = a + b with numpy broadcasting.   a: (…)  b: (…)  →  broadcast shape
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let s = try broadcastShape(a.shape, b.shape, op: "add")
    let y = binaryKernel(a, b, s, AddFn())
    guard recording(a, b) else { return y }
    return y.record("add", [a, b]) { g in [g, g] }          // da = g, db = g (un-broadcast centrally)
}
/// c = a − b with numpy broadcasting.
public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let s = try broadcastShape(a.shape, b.shape, op: "sub")
    let y = binaryKernel(a, b, s, SubFn())
    guard recording(a, b) else { return y }
    let nb = b.requiresGrad
    return y.record("sub", [a, b]) { g in [g, nb ? unaryKernel(g, NegFn()) : nil] }
}
/// c = a ⊙ b with numpy broadcasting.
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let s = try broadcastShape(a.shape, b.shape, op: "mul")
    let y = binaryKernel(a, b, s, MulFn())
    guard recording(a, b) else { return y }
    let na = a.requiresGrad, nb = b.requiresGrad
    return y.record("mul", [a, b]) { g in
        [na ? binaryKernel(g, b, g.shape, MulFn()) : nil,          // da = g·b
         nb ? binaryKernel(g, a, g.shape, MulFn()) : nil]          // db = g·a
    }
}
/// c = a / b with numpy broadcasting.
public func div(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let s = try broadcastShape(a.shape, b.shape, op: "div")
    let y = binaryKernel(a, b, s, DivFn())
    guard recording(a, b) else { return y }
    let na = a.requiresGrad, nb = b.requiresGrad
    let y0 = y.alias()
    return y.record("div", [a, b]) { g in
        [na ? binaryKernel(g, b, g.shape, DivFn()) : nil,                                   // da = g / b
         nb ? binaryKernel(binaryKernel(g, y0, g.shape, MulFn()), b, g.shape, NegDivFn()) : nil]  // db = −g·c / b
    }
}

extension Tensor {
    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try add(a, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try sub(a, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try mul(a, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try div(a, b) }
    public static func + (a: Tensor, s: Float) -> Tensor { addScalar(a, s) }
    public static func + (s: Float, a: Tensor) -> Tensor { addScalar(a, s) }
    public static func - (a: Tensor, s: Float) -> Tensor { addScalar(a, -s) }
    public static func - (s: Float, a: Tensor) -> Tensor { addScalar(scale(a, -1), s) }
    public static func * (a: Tensor, s: Float) -> Tensor { scale(a, s) }
    public static func * (s: Float, a: Tensor) -> Tensor { scale(a, s) }
    public static func / (a: Tensor, s: Float) -> Tensor { scale(a, 1 / s) }
    public static prefix func - (a: Tensor) -> Tensor { scale(a, -1) }
}

/// y = x + s.
public func addScalar(_ x: Tensor, _ s: Float) -> Tensor {
    let y = unaryKernel(x, AddSFn(s: s))
    guard recording(x) else { return y }
    return y.record("addScalar", [x]) { g in [g] }
}
/// y = s·x.
public func scale(_ x: Tensor, _ s: Float) -> Tensor {
    let y = unaryKernel(x, MulSFn(s: s))
    guard recording(x) else { return y }
    return y.record("scale", [x]) { g in [unaryKernel(g, MulSFn(s: s))] }
}

// MARK: - Unary ops

/// y = eˣ;  dx = dy·y
public func exp(_ x: Tensor) -> Tensor {
    let y = unaryKernel(x, ExpFn())
    guard recording(x) else { return y }
    let y0 = y.alias()
    return y.record("exp", [x]) { g in [binaryKernel(g, y0, g.shape, MulFn())] }
}
/// y = ln x;  dx = dy / x
public func log(_ x: Tensor) -> Tensor {
    let y = unaryKernel(x, LogFn())
    guard recording(x) else { return y }
    return y.record("log", [x]) { g in [binaryKernel(g, x, g.shape, DivFn())] }
}
/// y = √x;  dx = dy / (2y)
public func sqrt(_ x: Tensor) -> Tensor {
    let y = unaryKernel(x, SqrtFn())
    guard recording(x) else { return y }
    let y0 = y.alias()
    return y.record("sqrt", [x]) { g in [binaryKernel(g, y0, g.shape, SqrtGradFn())] }
}
/// y = 1/√x;  dx = −½·dy·y³
public func rsqrt(_ x: Tensor) -> Tensor {
    let y = unaryKernel(x, RsqrtFn())
    guard recording(x) else { return y }
    let y0 = y.alias()
    return y.record("rsqrt", [x]) { g in [binaryKernel(g, y0, g.shape, RsqrtGradFn())] }
}
/// y = x·σ(x) (SiLU / swish);  dx = dy·σ(x)·(1 + x·(1 − σ(x)))
public func silu(_ x: Tensor) -> Tensor {
    let y = unaryKernel(x, SiluFn())
    guard recording(x) else { return y }
    return y.record("silu", [x]) { g in
        [binaryKernel(g, x, g.shape, SiluGradFn())]
    }
}

/// y = ½·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³)  (GELU, tanh approximation; Gemma's GeGLU);
/// dx = dy·(½(1 + tanh u) + ½·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²))
///
///     let h = try geluTanh(gate(x)) * up(x)
public func geluTanh(_ x: Tensor) -> Tensor {
    let y = unaryKernel(x, GeluTanhFn())
    guard recording(x) else { return y }
    return y.record("geluTanh", [x]) { g in
        [binaryKernel(g, x, g.shape, GeluTanhGradFn())]
    }
}

extension Tensor {
    public func exp() -> Tensor { Autograd.exp(self) }
    public func log() -> Tensor { Autograd.log(self) }
    public func sqrt() -> Tensor { Autograd.sqrt(self) }
    public func rsqrt() -> Tensor { Autograd.rsqrt(self) }
    public func silu() -> Tensor { Autograd.silu(self) }
    public func geluTanh() -> Tensor { Autograd.geluTanh(self) }
}
