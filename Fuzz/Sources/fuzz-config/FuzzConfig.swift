// Fuzz target: an experiment config (YAML). The input is the file; lines after a `--8<--` line are
// `--set key=value` overrides applied to it, as `autore run --set` and sweeps do.
import Experiments
import FuzzSupport

@_cdecl("fuzz_config_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let parts = splitFiles(inputBytes(data, count), limit: 2)
    let text = String(decoding: parts[0], as: UTF8.self)
    _ = try? ExperimentConfig.parse(text, file: "fuzz.yaml")
    _ = try? ExperimentConfig.requireExperimentSettings(text, file: "fuzz.yaml")
    if parts.count > 1 {
        let lines = String(decoding: parts[1], as: UTF8.self).split(separator: "\n").prefix(8)
        let overrides = lines.compactMap { try? ConfigOverride(parsing: String($0)) }
        _ = try? ExperimentConfig.applying(overrides, to: text, file: "fuzz.yaml")
    }
    return 0
}
