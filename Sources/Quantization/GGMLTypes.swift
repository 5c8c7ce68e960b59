// GGML tensor element types as stored in GGUF files: the type ids, one block struct per quantized
// format (byte size asserted in tests) and a traits table. Decoding lives in GGMLDecode.swift; no encoders.
//
// Layouts follow ggml's `ggml-common.h` (block_q4_0, block_q4_1, block_q5_0, block_q5_1, block_q8_0,
// block_q4_K, block_q5_K, block_q6_K);
// type ids follow `enum ggml_type` in ggml.h (also listed in the GGUF spec, docs/gguf.md).

/// A GGML tensor element type (`enum ggml_type`). Only the types below are known; other ids are
/// refused by the GGUF reader with an error naming the tensor.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case bf16 = 30

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        }
    }

    /// Traits of this type: elements per block and bytes per block.
    public var traits: GGMLTypeTraits { GGMLTypeTraits.of(self) }

    /// Bytes needed for `count` elements, or nil when `count` is not a multiple of the block size
    /// or the product overflows.
    public func byteCount(elements count: Int) -> Int? {
        let t = traits
        guard count >= 0, count % t.blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / t.blockSize).multipliedReportingOverflow(by: t.bytesPerBlock)
        return overflow ? nil : bytes
    }
}

/// Per-type constants, ggml's `type_traits` table reduced to what decoding needs.
public struct GGMLTypeTraits: Sendable, Equatable {
    public var type: GGMLType
    /// Elements per block (ggml `blck_size`): 1 for plain floats, 32 for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0, 256 (QK_K) for K-quants.
    public var blockSize: Int
    /// Bytes per block (ggml `type_size`).
    public var bytesPerBlock: Int
    public var isQuantized: Bool { blockSize > 1 }

    public static func of(_ type: GGMLType) -> GGMLTypeTraits {
        switch type {
        case .f32: GGMLTypeTraits(type: type, blockSize: 1, bytesPerBlock: 4)
        case .f16: GGMLTypeTraits(type: type, blockSize: 1, bytesPerBlock: 2)
        case .bf16: GGMLTypeTraits(type: type, blockSize: 1, bytesPerBlock: 2)
        case .q4_0: GGMLTypeTraits(type: type, blockSize: qk4_0, bytesPerBlock: MemoryLayout<BlockQ4_0>.size)
        case .q4_1: GGMLTypeTraits(type: type, blockSize: qk4_1, bytesPerBlock: MemoryLayout<BlockQ4_1>.size)
        case .q5_0: GGMLTypeTraits(type: type, blockSize: qk5_0, bytesPerBlock: MemoryLayout<BlockQ5_0>.size)
        case .q5_1: GGMLTypeTraits(type: type, blockSize: qk5_1, bytesPerBlock: MemoryLayout<BlockQ5_1>.size)
        case .q8_0: GGMLTypeTraits(type: type, blockSize: qk8_0, bytesPerBlock: MemoryLayout<BlockQ8_0>.size)
        case .q4_K: GGMLTypeTraits(type: type, blockSize: qkK, bytesPerBlock: MemoryLayout<BlockQ4_K>.size)
        case .q5_K: GGMLTypeTraits(type: type, blockSize: qkK, bytesPerBlock: MemoryLayout<BlockQ5_K>.size)
        case .q6_K: GGMLTypeTraits(type: type, blockSize: qkK, bytesPerBlock: MemoryLayout<BlockQ6_K>.size)
        }
    }

    /// The whole table, one row per known type.
    public static let all: [GGMLTypeTraits] = GGMLType.allCases.map(of)
}

/// Elements per block, named as in ggml-common.h.
public let qk4_0 = 32
public let qk4_1 = 32
public let qk5_0 = 32
public let qk5_1 = 32
public let qk8_0 = 32
/// Super-block size of the K-quants (ggml `QK_K`).
public let qkK = 256
/// Bytes of packed 6-bit scales and mins in a Q4_K super-block (ggml `K_SCALE_SIZE`).
public let kScaleSize = 12

// Tuples of UInt16 stand in for C byte arrays so that MemoryLayout matches ggml's structs byte for byte:
// every field is 2-byte aligned, so Swift inserts no padding (checked by the size tests). The decoders
// read the raw bytes; the structs document the layout and pin its size.

/// `block_q4_0`: 32 weights = d · (q − 8), q ∈ [0, 15]. 18 bytes.
/// qs[j] holds element j in its low nibble and element j + 16 in its high nibble.
public struct BlockQ4_0 {
    public var d: UInt16                       // fp16 scale
    public var qs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 16 bytes of nibbles
}

/// `block_q4_1`: 32 weights = d · q + m, q ∈ [0, 15]. 20 bytes. Nibble order as Q4_0.
public struct BlockQ4_1 {
    public var d: UInt16                       // fp16 scale
    public var m: UInt16                       // fp16 min
    public var qs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 16 bytes of nibbles
}

/// `block_q5_0`: 32 weights = d · (q − 16), q ∈ [0, 31]. 22 bytes.
/// qs[j] holds the low 4 bits of element j (low nibble) and of element j + 16 (high nibble); bit j of the
/// little-endian 32-bit qh is bit 4 of element j, bit j + 16 is bit 4 of element j + 16.
public struct BlockQ5_0 {
    public var d: UInt16                       // fp16 scale
    public var qh: (UInt16, UInt16)            // 4 bytes: the fifth bits
    public var qs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 16 bytes of nibbles
}

/// `block_q5_1`: 32 weights = d · q + m, q ∈ [0, 31]. 24 bytes. Bit order as Q5_0.
public struct BlockQ5_1 {
    public var d: UInt16                       // fp16 scale
    public var m: UInt16                       // fp16 min
    public var qh: (UInt16, UInt16)            // 4 bytes: the fifth bits
    public var qs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 16 bytes of nibbles
}

/// `block_q8_0`: 32 weights = d · q, q ∈ int8. 34 bytes.
public struct BlockQ8_0 {
    public var d: UInt16                       // fp16 scale
    public var qs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 32 int8
}

/// `block_q4_K`: 256 weights in 8 sub-blocks of 32; weight = d·sc_j · q − dmin·m_j with 6-bit
/// sc_j, m_j packed into 12 bytes. 144 bytes.
public struct BlockQ4_K {
    public var d: UInt16                       // fp16 super-block scale of the scales
    public var dmin: UInt16                    // fp16 super-block scale of the mins
    public var scales: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 12 bytes: 8 × (6-bit scale, 6-bit min)
    public var qs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 128 bytes of nibbles
}

/// `block_q5_K`: 256 weights in 8 sub-blocks of 32; weight = d·sc_j · q − dmin·m_j with q 5-bit: the
/// nibbles as in Q4_K plus, for element l of sub-block j, bit j of qh[l]. Scales packed as Q4_K. 176 bytes.
public struct BlockQ5_K {
    public var d: UInt16                       // fp16 super-block scale of the scales
    public var dmin: UInt16                    // fp16 super-block scale of the mins
    public var scales: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 12 bytes: 8 × (6-bit scale, 6-bit min)
    public var qh: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 32 bytes: fifth bits
    public var qs: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 128 bytes of nibbles
}

/// `block_q6_K`: 256 weights in 16 sub-blocks of 16; weight = d · scales_j · (q − 32), q 6-bit
/// split into a low nibble (ql) and 2 high bits (qh). 210 bytes.
public struct BlockQ6_K {
    public var ql: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 128 bytes
    public var qh: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 64 bytes
    public var scales: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16)   // 16 int8 sub-block scales
    public var d: UInt16                       // fp16 super-block scale
}
