// Fuzz target: our checkpoint header. The file is our magic line followed by the input (the rest of the
// 512-byte header: "v1 <length> <crc>", padding, then the HDF5 contents), so every input is judged by our
// check (length and CRC-32) before the HDF5 library may read it: a damaged copy of one of our checkpoints
// must be refused by our code. A file without the magic line (written before the header existed) goes to
// the library unverified; fuzz-checkpoint-hdf5 shows what the library does with contents we did not write.
// With AUTORE_FUZZ_WRITE_SEED=<path>, writes a small checkpoint there with our writer and exits (the seed).
import Foundation
import FuzzSupport
import ModelFormats

let scratch = Scratch("checkpoint")
let magic = Array("AutoRE-Swift checkpoint\n".utf8)

@_cdecl("fuzz_checkpoint_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt {
    if let seed = ProcessInfo.processInfo.environment["AUTORE_FUZZ_WRITE_SEED"] {
        var c = Checkpoint()
        c.floats["adapter/q.lora_A"] = FloatArray(shape: [2, 3], values: [0.5, -1, 2, 0, 1e-3, 7])
        c.integers["step"] = 12
        c.words["rng"] = [1, 0xFFFF_FFFF_FFFF_FFFF]
        c.strings["config"] = "name: seed\n"
        do { try c.save(to: seed) } catch { print(error); return 1 }
        return 0
    }
    return runFuzzer(argc, argv, test)
}

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = scratch.write(magic + inputBytes(data, count), to: "checkpoint.h5")
    guard let c = try? Checkpoint(contentsOf: path) else { return 0 }
    for (_, a) in c.floats { precondition(a.values.count == a.shape.reduce(1, *)) }
    return 0
}
