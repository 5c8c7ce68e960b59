// Fuzz target: a PEFT LoRA adapter folder. The input is adapter_config.json, a `--8<--` line, then
// adapter_model.safetensors (without the line: the config alone, the weights missing).
import FuzzSupport
import ModelFormats

let scratch = Scratch("peft")

@_cdecl("fuzz_peft_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    scratch.clear()
    let parts = splitFiles(inputBytes(data, count), limit: 2)
    scratch.write(parts[0], to: PEFTAdapter.configFile)
    if parts.count > 1 { scratch.write(parts[1], to: PEFTAdapter.weightsFile) }
    guard let adapter = try? PEFTAdapter(directory: scratch.folder) else { return 0 }
    precondition(!adapter.modules.isEmpty)
    for (_, m) in adapter.modules {
        precondition(m.a.shape.count == 2 && m.b.shape.count == 2)
        precondition(m.a.shape[0] == adapter.lora.rank && m.b.shape[1] == adapter.lora.rank)
        precondition(m.a.values.count == m.a.shape[0] * m.a.shape[1] && m.b.values.count == m.b.shape[0] * m.b.shape[1])
    }
    return 0
}
