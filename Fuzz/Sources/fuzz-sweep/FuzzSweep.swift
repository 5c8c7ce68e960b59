// Fuzz target: a sweep file (YAML) beside two valid experiment configs, a.yaml and b.yaml, that it may
// list (configs), change (base with grid or variants), or not.
import Experiments
import FuzzSupport

let scratch = Scratch("sweep")
let configA = """
    name: a
    base_model: smollm2
    paradigm: D_R_H_F_desc
    stage: relations
    lora: {rank: 16, alpha: 32, targets: [q_proj, v_proj]}
    training: {steps: 10, seed: 0}
    data: {train: "train[0:10]", select: "select[0:3]", test: "test[0:3]"}

    """
let configB = configA.replacingOccurrences(of: "name: a", with: "name: b").replacingOccurrences(of: "D_R_H_F_desc", with: "D_F")

@_cdecl("fuzz_sweep_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt {
    scratch.write(Array(configA.utf8), to: "a.yaml")
    scratch.write(Array(configB.utf8), to: "b.yaml")
    return runFuzzer(argc, argv, test)
}

func test(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let path = scratch.write(inputBytes(data, count), to: "sweep.yaml")
    guard let sweep = try? Sweep.load(path: path) else { return 0 }
    precondition(!sweep.experiments.isEmpty)
    for e in sweep.experiments { _ = e.command(config: e.config) }
    return 0
}
