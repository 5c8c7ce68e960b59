// CRC-32 (IEEE 802.3, the zlib/PNG polynomial, reflected 0xEDB88320): a checksum of bytes, for files
// that must be refused when a byte changed (checkpoints). Not a cryptographic hash.

public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Continues `crc` (0 to start) over `bytes`. `checksum("123456789") == 0xCBF43926`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }

    public static func checksum<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update(0, $0) }
    }
}
