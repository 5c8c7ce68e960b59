// The fused quantized products (every GGML block format and NF4, AVX2 and portable instantiations) and the
// GGMLMatrix products for any N, against independent references: the scalar decoders + a Float64 matmul,
// one-hot inputs that must reproduce every decoded weight exactly, hand-packed blocks, finite differences.
import Autograd
import Foundation
import Support
import Testing
@testable import Quantization
import QuantizedKernels

/// The instantiations this CPU can run (the portable one always).
let runnableInstructionSets: [KernelInstructionSet] = KernelInstructionSet.cpuHasAVX2 ? [.avx2, .portable] : [.portable]

/// Byte offsets of the fp16 scale fields of a block, which random bytes must not fill with NaN or huge values.
func scaleOffsets(_ t: GGMLType) -> [Int] {
    switch t {
    case .q4_0, .q5_0, .q8_0: [0]
    case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
    case .q6_K: [208]
    case .f32, .f16, .bf16: []
    }
}

/// Deterministic blocks of `type` for rows × columns elements: random code bytes, scales in ±[0.004, 0.06].
func randomBlocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    var g = SplitMix64(seed: seed)
    if type == .f32 {
        return (0..<(rows * columns)).flatMap { _ in withUnsafeBytes(of: (g.nextFloat() - 0.5).bitPattern.littleEndian) { Array($0) } }
    }
    if type == .f16 {
        return (0..<(rows * columns)).flatMap { _ in halfBits(Float(Int(g.nextFloat() * 64) - 32) / 64) }
    }
    let t = type.traits
    var bytes = (0..<(rows * columns / t.blockSize * t.bytesPerBlock)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
    for b in 0..<(bytes.count / t.bytesPerBlock) {
        for o in scaleOffsets(type) {
            // k/1024 for k in ±[4, 63]: exact in fp16.
            let k = Float(4 + Int(g.next() % 60)) * (g.next() % 2 == 0 ? 1 : -1)
            let h = halfBits(k / 1024)
            bytes[b * t.bytesPerBlock + o] = h[0]; bytes[b * t.bytesPerBlock + o + 1] = h[1]
        }
    }
    return bytes
}

/// y = x·Wᵀ in Float64 from the reference decoder's weights, and the scale Σ|x||w| of each output.
func referenceProduct(_ x: [Float], n: Int, _ w: [Float], rows: Int, columns: Int) -> (y: [Double], scale: [Double]) {
    var y = [Double](repeating: 0, count: n * rows), s = y
    for i in 0..<n { for r in 0..<rows {
        var acc = 0.0, mag = 0.0
        for k in 0..<columns {
            let p = Double(x[i * columns + k]) * Double(w[r * columns + k])
            acc += p; mag += abs(p)
        }
        y[i * rows + r] = acc; s[i * rows + r] = mag
    } }
    return (y, s)
}

/// The largest |got − want| / (Σ|x||w| + tiny): summation-order error of a Float32 sum is a few ulps of that.
func worstRelative(_ got: [Float], _ want: [Double], _ scale: [Double]) -> Double {
    zip(zip(got, want), scale).map { abs(Double($0.0) - $0.1) / ($1 + 1e-30) }.max() ?? 0
}

@Suite struct QuantizedProductTests {
    static let fusedTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    /// (rows, columns in blocks): rows that do not divide among threads, one block, several blocks.
    static let shapes: [(Int, Int)] = [(1, 1), (5, 3), (37, 2), (130, 1)]

    @Test(arguments: fusedTypes)
    func fusedProductEqualsDecodeThenFloat64Matmul(type: GGMLType) throws {
        let bs = type.traits.blockSize
        for (rows, blocks) in Self.shapes {
            let columns = blocks * bs
            let w = try GGMLMatrix(type: type, rows: rows, columns: columns, bytes: randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows * 31 + blocks)))
            let dense = GGMLDecoder.decodeReference(type, bytes: Array(UnsafeRawBufferPointer(start: w.blocks, count: w.byteCount)), count: w.count)
            for n in [1, 3, 16] {
                let x = (0..<(n * columns)).map { testValue($0, rows) }
                let (want, scale) = referenceProduct(x, n: n, dense, rows: rows, columns: columns)
                for isa in runnableInstructionSets {
                    var got = [Float](repeating: .nan, count: n * rows)
                    got.withUnsafeMutableBufferPointer { ggmlMatmulForward(x, rows: n, w, into: $0.baseAddress!, instructions: isa) }
                    let err = worstRelative(got, want, scale)
                    #expect(err <= 1e-6, "\(type) \(isa) n=\(n) \(rows)×\(columns): \(err)")
                }
            }
        }
    }

    /// x = one-hot rows: y[i, r] is exactly the weight W[r, j] the scalar reference decodes, so every lane of
    /// every chunk decoder is checked against the oracle bit for bit.
    @Test(arguments: fusedTypes)
    func oneHotInputsGiveEveryReferenceWeightExactly(type: GGMLType) throws {
        let rows = 3, columns = 2 * type.traits.blockSize
        let w = try GGMLMatrix(type: type, rows: rows, columns: columns, bytes: randomBlocks(type, rows: rows, columns: columns, seed: 99))
        let dense = GGMLDecoder.decodeReference(type, bytes: Array(UnsafeRawBufferPointer(start: w.blocks, count: w.byteCount)), count: w.count)
        for isa in runnableInstructionSets {
            for first in stride(from: 0, to: columns, by: 16) {
                var x = [Float](repeating: 0, count: 16 * columns)
                for i in 0..<16 { x[i * columns + first + i] = 1 }
                var y = [Float](repeating: .nan, count: 16 * rows)
                y.withUnsafeMutableBufferPointer { ggmlMatmulForward(x, rows: 16, w, into: $0.baseAddress!, instructions: isa) }
                for i in 0..<16 { for r in 0..<rows {
                    #expect(y[i * rows + r] == dense[r * columns + first + i], "\(type) \(isa) row \(r) column \(first + i)")
                } }
                // One row of x (the decoding path of a single sequence) reads the same lanes.
                var y1 = [Float](repeating: .nan, count: rows)
                y1.withUnsafeMutableBufferPointer { ggmlMatmulForward(Array(x[0..<columns]), rows: 1, w, into: $0.baseAddress!, instructions: isa) }
                for r in 0..<rows { #expect(y1[r] == dense[r * columns + first], "\(type) \(isa) m=1 row \(r) column \(first)") }
            }
        }
    }

    /// A Q4_1 and a Q6_K block packed by hand, their products computed by hand.
    @Test func handPackedBlocks() throws {
        // Q4_1: d = 0.5, m = −2; element j < 16 has code j (low nibble), element j + 16 code 15 − j (high nibble).
        var q41: [UInt8] = halfBits(0.5) + halfBits(-2)
        for j in 0..<16 { q41.append(UInt8(j) | UInt8(15 - j) << 4) }
        let w41 = try GGMLMatrix(type: .q4_1, rows: 1, columns: 32, bytes: q41)
        // x = 1 everywhere: Σ (0.5·q − 2) over codes 0…15 twice = 0.5·240 − 64 = 56.
        // x = j (position): Σⱼ j·w_j with w_j = 0.5·j − 2 (j < 16), 0.5·(31 − j) − 2 (j ≥ 16), = 868.
        let ones = [Float](repeating: 1, count: 32), ramp = (0..<32).map(Float.init)
        for isa in runnableInstructionSets {
            var y: [Float] = [0, 0]
            y.withUnsafeMutableBufferPointer { ggmlMatmulForward(ones + ramp, rows: 2, w41, into: $0.baseAddress!, instructions: isa) }
            #expect(y == [56, 868], "\(isa) Q4_1: \(y)")
        }
        // Q6_K: every code 33 (value d·sc·1), scales[s] = s + 1 for the 16 sub-blocks of 16, d = 0.25.
        // ql low nibbles 1, high nibbles 1 (0x11); qh bits 2 everywhere 0b10 → high part 2 → code 1 | 2 << 4 = 33.
        var q6 = [UInt8](repeating: 0x11, count: 128) + [UInt8](repeating: 0b1010_1010, count: 64)
        q6 += (0..<16).map { UInt8($0 + 1) } + halfBits(0.25)
        let w6 = try GGMLMatrix(type: .q6_K, rows: 1, columns: 256, bytes: q6)
        // Element e lies in sub-block e/16 (scale e/16 + 1): Σ 0.25·(e/16 + 1) = 0.25·16·Σ_{s=1…16} s = 544.
        for isa in runnableInstructionSets {
            var y: [Float] = [0]
            y.withUnsafeMutableBufferPointer { ggmlMatmulForward([Float](repeating: 1, count: 256), rows: 1, w6, into: $0.baseAddress!, instructions: isa) }
            #expect(y == [544], "\(isa) Q6_K: \(y)")
        }
    }

    /// More than 16 rows of x (tiles decoded, then sgemm) and the types without a fused kernel.
    @Test(arguments: [GGMLType.q4_1, .q4_K, .q6_K, .f16, .f32])
    func tiledProductAndInputGradientEqualFloat64(type: GGMLType) throws {
        let bs = type.traits.blockSize == 1 ? 32 : type.traits.blockSize
        for (rows, columns) in [(37, 3 * bs), (300, bs)] {
            let w = try GGMLMatrix(type: type, rows: rows, columns: columns, bytes: randomBlocks(type, rows: rows, columns: columns, seed: UInt64(rows)))
            let dense = w.dequantized()
            #expect(dense == GGMLDecoder.decodeReference(type, bytes: Array(UnsafeRawBufferPointer(start: w.blocks, count: w.byteCount)), count: w.count))
            for n in [1, 17, 40, 1100] {   // 1100: tiles grow past 512 rows of x
                let x = (0..<(n * columns)).map { testValue($0, 3) }
                let (want, scale) = referenceProduct(x, n: n, dense, rows: rows, columns: columns)
                var got = [Float](repeating: .nan, count: n * rows)
                got.withUnsafeMutableBufferPointer { ggmlMatmulForward(x, rows: n, w, into: $0.baseAddress!) }
                #expect(worstRelative(got, want, scale) <= 1e-6, "\(type) n=\(n) \(rows)×\(columns) forward")
                // dx (n, columns) = dy (n, rows) · W: the reference product with Wᵀ.
                let dy = (0..<(n * rows)).map { testValue($0, 11) }
                var wt = [Float](repeating: 0, count: dense.count)
                for r in 0..<rows { for c in 0..<columns { wt[c * rows + r] = dense[r * columns + c] } }
                let (wantDx, scaleDx) = referenceProduct(dy, n: n, wt, rows: columns, columns: rows)
                var gotDx = [Float](repeating: .nan, count: n * columns)
                gotDx.withUnsafeMutableBufferPointer { ggmlMatmulInputGradient(dy, rows: n, w, into: $0.baseAddress!) }
                #expect(worstRelative(gotDx, wantDx, scaleDx) <= 1e-6, "\(type) n=\(n) \(rows)×\(columns) input gradient")
            }
        }
    }

    @Test func ggmlLinearGradientMatchesFiniteDifferences() throws {
        let w = try GGMLMatrix(type: .q5_0, rows: 7, columns: 64, bytes: randomBlocks(.q5_0, rows: 7, columns: 64, seed: 5))
        for n in [3, 18] {   // the fused forward and the tiled one
            let x = try Tensor((0..<(n * 64)).map { testValue($0, 1) }, shape: [n, 64])
            let r = try gradientCheck([x], eps: 1e-2, atol: 1e-3, rtol: 1e-3) { try ggmlLinear($0[0], weight: w) }
            #expect(r.passed, "n=\(n) \(r)")
        }
        #expect(throws: TensorError.self) { try ggmlLinear(Tensor.zeros([2, 63]), weight: w) }
    }

    @Test func rowOrderAndBadSizesAreChecked() throws {
        let bytes = randomBlocks(.q8_0, rows: 4, columns: 32, seed: 1)
        let plain = try GGMLMatrix(type: .q8_0, rows: 4, columns: 32, bytes: bytes).dequantized()
        let moved = try GGMLMatrix(type: .q8_0, rows: 4, columns: 32, bytes: bytes, rowOrder: [2, 0, 3, 1]).dequantized()
        for (r, source) in [2, 0, 3, 1].enumerated() { #expect(Array(moved[(32 * r)..<(32 * r + 32)]) == Array(plain[(32 * source)..<(32 * source + 32)])) }
        #expect(throws: TensorError.self) { try GGMLMatrix(type: .q8_0, rows: 4, columns: 32, bytes: Array(bytes.dropLast())) }
        #expect(throws: TensorError.self) { try GGMLMatrix(type: .q4_K, rows: 1, columns: 32, bytes: [UInt8](repeating: 0, count: 144)) }
        #expect(throws: TensorError.self) { try GGMLMatrix(type: .q8_0, rows: 4, columns: 32, bytes: bytes, rowOrder: [0, 0, 1, 2]) }
    }

    /// NF4 with whole 64-blocks per row goes through the fused kernel for up to 16 rows of x.
    @Test func nf4FusedProductEqualsReference() throws {
        for (rows, columns) in [(1, 64), (37, 192), (130, 576)] {
            var g = SplitMix64(seed: UInt64(rows))
            let w = NF4Matrix(quantizing: (0..<(rows * columns)).map { _ in g.nextNormal() }, rows: rows, columns: columns, doubleQuantization: true)
            let dense = w.dequantizedReference()
            for n in [1, 3, 16] {
                let x = (0..<(n * columns)).map { testValue($0, 2) }
                let (want, scale) = referenceProduct(x, n: n, dense, rows: rows, columns: columns)
                for isa in runnableInstructionSets {
                    var got = [Float](repeating: .nan, count: n * rows)
                    got.withUnsafeMutableBufferPointer { nf4FusedProduct(x, m: n, w, into: $0.baseAddress!, instructions: isa) }
                    #expect(worstRelative(got, want, scale) <= 1e-6, "NF4 \(isa) n=\(n) \(rows)×\(columns)")
                }
            }
            // One-hot rows reproduce the reference weights exactly.
            for isa in runnableInstructionSets {
                var x = [Float](repeating: 0, count: 16 * columns)
                for i in 0..<16 { x[i * columns + (5 * i + 1) % columns] = 1 }
                var y = [Float](repeating: .nan, count: 16 * rows)
                y.withUnsafeMutableBufferPointer { nf4FusedProduct(x, m: 16, w, into: $0.baseAddress!, instructions: isa) }
                for i in 0..<16 { for r in 0..<rows { #expect(y[i * rows + r] == dense[r * columns + (5 * i + 1) % columns]) } }
            }
        }
    }

    /// The outputs of chosen rows only (a constrained step's head at its allowed tokens) are the whole fused
    /// product's columns bit for bit, for every fused GGML format, NF4, both instantiations and 1, 3 and 16
    /// rows of x; chosen rows out of order, repeated, first and last.
    @Test(arguments: fusedTypes)
    func chosenRowsEqualTheWholeProductsColumns(type: GGMLType) throws {
        let rows = 70, columns = 2 * type.traits.blockSize
        let w = try GGMLMatrix(type: type, rows: rows, columns: columns, bytes: randomBlocks(type, rows: rows, columns: columns, seed: 17))
        var g = SplitMix64(seed: 3)
        let nf4 = NF4Matrix(quantizing: (0..<(rows * 128)).map { _ in g.nextNormal() }, rows: rows, columns: 128, doubleQuantization: true)
        let ids = [69, 0, 5, 5, 33, 12, 68, 1]
        for n in [1, 3, 16] {
            for isa in runnableInstructionSets {
                for (name, k, whole, chosen) in [
                    ("\(type)", columns, { (x: [Float], y: UnsafeMutablePointer<Float>) in _ = w.fusedProduct(x, m: n, into: y, instructions: isa) },
                     { (x: [Float], y: UnsafeMutablePointer<Float>) in w.fusedProduct(x, m: n, rows: ids, into: y, instructions: isa) }),
                    ("NF4", 128, { (x: [Float], y: UnsafeMutablePointer<Float>) in _ = nf4.fusedProduct(x, m: n, into: y, instructions: isa) },
                     { (x: [Float], y: UnsafeMutablePointer<Float>) in nf4.fusedProduct(x, m: n, rows: ids, into: y, instructions: isa) }),
                ] {
                    let x = (0..<(n * k)).map { testValue($0, 7) }
                    var all = [Float](repeating: .nan, count: n * rows), some = [Float](repeating: .nan, count: n * ids.count)
                    all.withUnsafeMutableBufferPointer { whole(x, $0.baseAddress!) }
                    let done = some.withUnsafeMutableBufferPointer { chosen(x, $0.baseAddress!) }
                    #expect(done, "\(name) has a fused kernel")
                    for i in 0..<n { for (j, r) in ids.enumerated() {
                        #expect(some[i * ids.count + j].bitPattern == all[i * rows + r].bitPattern, "\(name) \(isa) n=\(n) row \(r)")
                    } }
                    #expect(all.contains { $0 != 0 }, "not vacuous")
                }
            }
        }
    }

    /// A kept Float32 copy changes no bit: the tiled forward (more than 16 rows of x) and the input gradient
    /// read the same values from the copy as they decode, with the same GEMMs, for GGML blocks and NF4.
    @Test(arguments: [GGMLType.q4_K, .q6_K, .q5_0, .q8_0])
    func aKeptCopyGivesTheSameProductsAndGradients(type: GGMLType) throws {
        let rows = 300, columns = 2 * type.traits.blockSize, n = 40
        let w = try GGMLMatrix(type: type, rows: rows, columns: columns, bytes: randomBlocks(type, rows: rows, columns: columns, seed: 23))
        var g = SplitMix64(seed: 4)
        let nf4 = NF4Matrix(quantizing: (0..<(rows * 128)).map { _ in g.nextNormal() }, rows: rows, columns: 128, doubleQuantization: true)
        for (name, k, forward, gradient, keep) in [
            ("\(type)", columns, { (x: [Float], y: UnsafeMutablePointer<Float>) in ggmlMatmulForward(x, rows: n, w, into: y) },
             { (dy: [Float], dx: UnsafeMutablePointer<Float>) in ggmlMatmulInputGradient(dy, rows: n, w, into: dx) }, w.keepDequantizedCopy),
            ("NF4", 128, { (x: [Float], y: UnsafeMutablePointer<Float>) in nf4MatmulForward(x, rows: n, nf4, into: y) },
             { (dy: [Float], dx: UnsafeMutablePointer<Float>) in nf4MatmulInputGradient(dy, rows: n, nf4, into: dx) }, nf4.keepDequantizedCopy),
        ] {
            let x = (0..<(n * k)).map { testValue($0, 3) }, dy = (0..<(n * rows)).map { testValue($0, 5) }
            func run() -> ([Float], [Float]) {
                var y = [Float](repeating: .nan, count: n * rows), dx = [Float](repeating: .nan, count: n * k)
                y.withUnsafeMutableBufferPointer { forward(x, $0.baseAddress!) }
                dx.withUnsafeMutableBufferPointer { gradient(dy, $0.baseAddress!) }
                return (y, dx)
            }
            keep(false)
            let (y0, dx0) = run()
            keep(true)
            let (y1, dx1) = run()
            keep(false)
            #expect(y0.map(\.bitPattern) == y1.map(\.bitPattern), "\(name) forward")
            #expect(dx0.map(\.bitPattern) == dx1.map(\.bitPattern), "\(name) input gradient")
            #expect(y0.contains { $0 != 0 } && dx0.contains { $0 != 0 }, "not vacuous")
        }
    }
}
