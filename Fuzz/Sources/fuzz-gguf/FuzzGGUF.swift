// Fuzz target: the GGUF reader (header, metadata, tensor table), then every tensor's blocks decoded by
// Quantization's GGML decoders (whole and by rows) and a tokenizer built from the metadata when it has one.
import FuzzSupport
import ModelFormats
import Quantization
import Tokenization

let scratch = Scratch("gguf")

@_cdecl("fuzz_gguf_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = scratch.write(UnsafeBufferPointer(start: data, count: data == nil ? 0 : count), to: "model.gguf")
    guard let file = try? GGUFFile(path: path) else { return 0 }
    for key in file.metadataKeys {
        let v = file.metadata[key]!
        _ = (v.description, v.double, v.strings, v.ints, v.doubles)
    }
    var budget = 1 << 20                       // values decoded per input: bounded by the file anyway
    for t in file.tensors {
        precondition(file.tensor(named: t.name) != nil)
        let raw = file.rawBytes(t)
        precondition(raw.count == t.byteCount)
        guard t.elementCount <= budget else { continue }
        budget -= t.elementCount
        let all = file.floats(t)
        precondition(all.count == t.elementCount)
        let rowLength = t.dimensions[0]
        if rowLength > 0 {
            let rows = t.elementCount / rowLength
            if rows > 0 {
                let last = file.floats(t, rows: (rows - 1)..<rows)
                precondition(last.count == rowLength)
                for (a, b) in zip(last, all[((rows - 1) * rowLength)...]) { precondition(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)) }
            }
        }
    }
    if let tokenizer = try? Tokenizer(gguf: file) {
        let ids = tokenizer.encode("Hello, wörld! <|im_start|> 123 \u{1F600}\n\t", addSpecialTokens: true)
        precondition(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize })
        _ = tokenizer.decode(ids)
        _ = tokenizer.decode(ids, skipSpecialTokens: true)
    }
    return 0
}
