// Fuzz target: safetensors, one file or a sharded checkpoint. An input without a `--8<--` line is
// model.safetensors; with them, the first part is model.safetensors.index.json and the rest are the shards
// model-00001-of-00003.safetensors … Every listed tensor is then read and decoded.
import FuzzSupport
import ModelFormats

let scratch = Scratch("safetensors")

@_cdecl("fuzz_safetensors_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    scratch.clear()
    let parts = splitFiles(inputBytes(data, count), limit: 4)
    if parts.count == 1 {
        scratch.write(parts[0], to: "model.safetensors")
    } else {
        scratch.write(parts[0], to: "model.safetensors.index.json")
        for (i, p) in parts.dropFirst().enumerated() {
            scratch.write(p, to: "model-0000\(i + 1)-of-0000\(parts.count - 1).safetensors")
        }
    }
    guard let checkpoint = try? SafetensorsCheckpoint(directory: scratch.folder) else { return 0 }
    for name in checkpoint.tensorNames.prefix(64) {
        guard let info = try? checkpoint.info(name), let values = try? checkpoint.floats(name) else { continue }
        precondition(values.count == info.elementCount)
        if let file = try? checkpoint.shard(checkpoint.weightMap[name]!) {
            precondition(file.bytes(info).count == info.elementCount * info.dtype.byteSize)
        }
    }
    return 0
}
