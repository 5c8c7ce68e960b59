// NF4 weights in the block products (BlockProducts.swift): how an NF4Matrix decodes a row's columns and runs its
// fused kernel, and the named entry points. No weight gradient: the quantized base is frozen.
import Autograd

extension NF4Matrix: BlockWeight {
    public var formatName: String { "NF4" }
    /// Any column range decodes (`dequantize(elements:)`); 16 keeps the gradient's column blocks aligned for sgemm.
    public var columnAlignment: Int { 16 }
    public func dequantize(row r: Int, columns c: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        dequantize(elements: (r * columns + c.lowerBound)..<(r * columns + c.upperBound), into: out)
    }
    /// The fused kernel reads the codes whether or not a Float32 copy is kept (the same products either way);
    /// it needs whole 64-element blocks per row.
    public func fusedProduct(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>,
                             instructions: KernelInstructionSet) -> Bool {
        guard columns % Self.blockSize == 0 else { return false }
        nf4FusedProduct(x, m: m, self, into: y, instructions: instructions)
        return true
    }
    public func fusedProduct(_ x: UnsafePointer<Float>, m: Int, rows ids: [Int], into y: UnsafeMutablePointer<Float>,
                             instructions: KernelInstructionSet) -> Bool {
        guard columns % Self.blockSize == 0 else { return false }
        nf4FusedProduct(x, m: m, self, rows: ids, into: y, instructions: instructions)
        return true
    }
    public var decodedCopy: UnsafePointer<Float>? { dense.current }
}

/// y (N, out) = x (N, in) · Wᵀ for an NF4 weight (`blockMatmulForward`).
public func nf4MatmulForward(_ x: UnsafePointer<Float>, rows n: Int, _ w: NF4Matrix, into y: UnsafeMutablePointer<Float>) {
    blockMatmulForward(x, rows: n, w, into: y)
}

/// dx (N, in) = dy (N, out) · W for an NF4 weight (`blockMatmulInputGradient`).
public func nf4MatmulInputGradient(_ dy: UnsafePointer<Float>, rows n: Int, _ w: NF4Matrix, into dx: UnsafeMutablePointer<Float>) {
    blockMatmulInputGradient(dy, rows: n, w, into: dx)
}

/// y = x·Wᵀ for an NF4 weight, recorded on the tape with the input gradient only.
///
///     x: (…, in)   W: NF4 (out, in)   →   (…, out);   dx = dy·W
///
///     let y = try nf4Linear(x, weight: w)
public func nf4Linear(_ x: Tensor, weight w: NF4Matrix) throws -> Tensor { try blockLinear(x, weight: w, op: "nf4Linear") }
