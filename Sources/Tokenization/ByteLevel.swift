// GPT-2's reversible byte ↔ printable-character mapping used by byte-level BPE vocabularies
// (`Ġ` for a space, `Ċ` for a newline). Not the pre-tokeniser (PreTokenizers.swift).

/// openai/gpt-2 encoder.py `bytes_to_unicode`: printable Latin-1 bytes ('!'…'~', '¡'…'¬', '®'…'ÿ')
/// map to themselves; the other 68 bytes map, in order, to U+0100, U+0101, ….
public enum ByteLevel {
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar`: scalar value → byte, for scalars below 0x144.
    public static let scalarToByte: [Int16] = {
        var t = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { t[Int(s.value)] = Int16(b) }
        return t
    }()

    /// The byte-level form of UTF-8 bytes: "Ġhello" for " hello".
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }

    /// UTF-8 bytes of a byte-level token; nil if it contains a character outside the mapping.
    public static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard s.value < 0x144, case let b = scalarToByte[Int(s.value)], b >= 0 else { return nil }
            out.append(UInt8(b))
        }
        return out
    }
}
