// Fuzz target: the HDF5 layer under our checkpoint header. The input is what follows the 512-byte header;
// the target writes a header that matches it (length and CRC-32, as our writer would), so every input gets
// past our check and is parsed by the HDF5 library. What this shows is in Docs/reliability.md: the library
// is trusted only with files whose checksum we wrote.
import Foundation
import FuzzSupport
import ModelFormats
import Support

let scratch = Scratch("checkpoint-hdf5")
let magic = Array("AutoRE-Swift checkpoint\n".utf8)

@_cdecl("fuzz_checkpoint_hdf5_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let payload = inputBytes(data, count)
    var header = magic + Array("v1 \(payload.count) \(String(format: "%08x", CRC32.checksum(payload)))\n".utf8)
    header += [UInt8](repeating: 0, count: 512 - header.count)
    let path = scratch.write(header + payload, to: "checkpoint.h5")
    guard let c = try? Checkpoint(contentsOf: path) else { return 0 }
    for (_, a) in c.floats { precondition(a.values.count == a.shape.reduce(1, *)) }
    return 0
}
