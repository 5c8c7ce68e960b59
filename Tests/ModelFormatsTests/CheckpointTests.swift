// HDF5 checkpoints: exact round trip, atomic replacement, one clear error for bad files, and a header of
// our own (length and CRC-32) that refuses any changed byte before the HDF5 library reads the file.
import Foundation
import Support
import Testing
@testable import ModelFormats

@Suite struct CheckpointTests {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("autore-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
    func sample(_ seed: Float) -> Checkpoint {
        var c = Checkpoint()
        c.floats["adapter/model.layers.0.self_attn.q_proj.lora_A.facts.weight"] =
            FloatArray(shape: [3, 5], values: (0..<15).map { Float($0) * seed - 1e-30 })
        c.floats["adam.m/x"] = FloatArray(shape: [2], values: [.infinity, -0.0])
        c.floats["empty"] = FloatArray(shape: [0], values: [])
        c.integers["step"] = 1 << 40
        c.integers["cursor"] = -3
        c.words["dropout"] = [0, .max, 0x9E37_79B9_7F4A_7C15]
        c.strings["config"] = "name: ünïcode ✓\nlora: {rank: 8}"
        return c
    }

    @Test func roundTripIsExact() throws {
        let path = try tempDir() + "/c.h5"
        let c = sample(0.1)
        try c.save(to: path)
        let back = try Checkpoint(contentsOf: path)
        #expect(back == c)
        #expect(back.floats["adapter/model.layers.0.self_attn.q_proj.lora_A.facts.weight"]!.values.map(\.bitPattern)
                == c.floats["adapter/model.layers.0.self_attn.q_proj.lora_A.facts.weight"]!.values.map(\.bitPattern))
    }

    @Test func failedWriteKeepsThePreviousCheckpoint() throws {
        let dir = try tempDir(), path = dir + "/c.h5"
        try sample(1).save(to: path)
        var bad = sample(2)
        bad.floats["zz-broken"] = FloatArray(shape: [4], values: [1])   // inconsistent: fails mid-write
        #expect(throws: CheckpointError.self) { try bad.save(to: path) }
        #expect(try Checkpoint(contentsOf: path) == sample(1))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["c.h5"])   // no temporary left
        try sample(3).save(to: path)
        #expect(try Checkpoint(contentsOf: path) == sample(3))
    }

    func error(_ path: String) -> String {
        do { _ = try Checkpoint(contentsOf: path); return "" } catch { return "\(error)" }
    }

    @Test func badFilesGiveOneErrorNamingThem() throws {
        let dir = try tempDir()
        #expect(error(dir + "/none.h5") == "\(dir)/none.h5: no such checkpoint")
        try Data("not hdf5 at all".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.h5"))
        #expect(error(dir + "/garbage.h5").hasPrefix("\(dir)/garbage.h5: not an HDF5 checkpoint"))
        try sample(1).save(to: dir + "/full.h5")
        let full = try Data(contentsOf: URL(fileURLWithPath: dir + "/full.h5"))
        for cut in [full.count / 2, full.count - 100, 600] {
            try full.prefix(cut).write(to: URL(fileURLWithPath: dir + "/cut.h5"))
            let e = error(dir + "/cut.h5")
            #expect(e.hasPrefix("\(dir)/cut.h5: "), "cut at \(cut): \(e)")
        }
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)   // the CRC-32/ISO-HDLC check value
        #expect(CRC32.checksum([UInt8]()) == 0)
        // continuing over pieces equals one pass
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC32.checksum(bytes)
        let pieces = bytes[..<333].withUnsafeBytes { a in bytes[333...].withUnsafeBytes { b in CRC32.update(CRC32.update(0, a), b) } }
        #expect(pieces == whole)
    }

    @Test func theHeaderRefusesEveryAlteredOrMissingByte() throws {
        let dir = try tempDir(), path = dir + "/c.h5"
        try sample(0.5).save(to: path)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(good.starts(with: Data("AutoRE-Swift checkpoint\nv1 \(good.count - 512) ".utf8)))
        #expect(try Checkpoint.verify(path))
        // one flipped bit anywhere after the header: refused by the checksum, whatever HDF5 would make of it
        for offset in [512, 600, good.count / 2, good.count - 1] {
            var bad = good
            bad[offset] ^= 0x10
            try bad.write(to: URL(fileURLWithPath: dir + "/flip.h5"))
            let e = error(dir + "/flip.h5")
            #expect(e.hasPrefix("\(dir)/flip.h5: corrupt: the CRC-32"), "bit flipped at \(offset): \(e)")
        }
        // cut or extended: refused by the length
        for data in [good.prefix(good.count - 1), good + Data([0])] {
            try data.write(to: URL(fileURLWithPath: dir + "/len.h5"))
            #expect(error(dir + "/len.h5").contains("truncated or extended"))
        }
        // a damaged header line is refused, not taken for a file without a header
        var header = good
        header[30] = UInt8(ascii: "x")
        try header.write(to: URL(fileURLWithPath: dir + "/head.h5"))
        #expect(error(dir + "/head.h5").hasSuffix("the checkpoint header is damaged"))
        // cut inside the header: refused by the header check, not handed to the library as a file without one
        for cut in [Checkpoint.magic.count, 100, 511] {
            try good.prefix(cut).write(to: URL(fileURLWithPath: dir + "/short.h5"))
            #expect(throws: CheckpointError.self) { try Checkpoint.verify(dir + "/short.h5") }
            #expect(error(dir + "/short.h5").hasSuffix("truncated: the file ends inside its 512-byte header"), "cut at \(cut)")
        }
        // A file written before checkpoints had the header (the HDF5 file alone, which is what remains
        // without the user block) still reads, unverified.
        let legacy = dir + "/legacy.h5"
        try good.dropFirst(512).write(to: URL(fileURLWithPath: legacy))
        #expect(try !Checkpoint.verify(legacy))
        #expect(try Checkpoint(contentsOf: legacy) == sample(0.5))
    }

    /// Contents our writer did not produce behind a header that matches them (what fuzz-checkpoint-hdf5
    /// feeds the reader): the counts the library and the index report are checked before anything is
    /// allocated or multiplied.
    @Test func contentsBehindAMatchingHeaderCannotClaimMoreThanTheFileHolds() throws {
        let dir = try tempDir()
        func withHeader(_ contents: Data) throws -> String {
            let path = dir + "/\(UUID().uuidString).h5"
            let header = Data(Checkpoint.header(length: contents.count, crc: CRC32.checksum(contents)))
            try (header + contents).write(to: URL(fileURLWithPath: path))
            return path
        }
        // Found by fuzz-checkpoint-hdf5: six bytes of a written checkpoint changed so that a dataspace claims
        // 0xc5000000002 values, which the reader tried to allocate.
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/checkpoint_huge_dataspace.hdf5")
        let huge = error(try withHeader(try Data(contentsOf: fixture)))
        #expect(huge.contains("claims") && huge.hasSuffix("-byte file holds"), "\(huge)")
        // An index entry whose shape overflows Int (multiplying it trapped), or has negative sizes whose
        // product matches the dataset (it was returned as the shape).
        var c = Checkpoint()
        c.floats["x"] = FloatArray(shape: [Int](repeating: 1, count: 20), values: [1])
        try c.save(to: dir + "/ones.h5")
        let contents = Data(try Data(contentsOf: URL(fileURLWithPath: dir + "/ones.h5")).dropFirst(512))
        let ones = try #require(contents.range(of: Data("[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]".utf8)))
        for shape in ["[9999999999,9999999999,1,1,1,1,1,1,1,1,1]", "[-1,-1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]"] {
            var patched = contents
            patched.replaceSubrange(ones, with: Data(shape.utf8))
            let e = error(try withHeader(patched))
            #expect(e.contains("entry f:x has shape"), "\(shape): \(e)")
        }
        // Found by fuzz-checkpoint-hdf5 (finding 6): a mutated file behind a matching header makes the HDF5
        // library itself ask realloc for 2^64 − 136 bytes. The allocation fails, the library reports it, and
        // the reader gives one error naming the file: no crash, nothing returned.
        let realloc = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/checkpoint_hdf5_impossible_realloc.hdf5")
        let path = try withHeader(try Data(contentsOf: realloc))
        let e = error(path)
        #expect(e.hasPrefix(path + ":"), "\(e)")
    }
}
