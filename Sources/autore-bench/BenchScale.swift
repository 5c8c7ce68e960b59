// `autore-bench scale`: data-parallel QLoRA steps on one machine, 1 rank × 2 threads against 2 ranks × 1
// thread (`mpirun -np 2`), the same global batch (4 sequences of 512 fixed ids) either way: tokens/s of the
// job, and the bytes and seconds of the allreduce of the adapter's gradients each step. Each configuration
// runs in child processes of its own; rank 0 prints the result.
import ArgumentParser
import Autograd
import Distributed
import Experiments
import FineTuning
import Foundation
import LanguageModels
import RHF
import Support

struct ScaleResult: Codable {
    var ranks: Int
    var threadsPerRank: Int
    var rank: Int
    var tokensPerStep: Int
    var stepSeconds: Double
    var tokensPerSecond: Double
    var allreduceFloats: Int
    var allreduceBytes: Int
    /// Median seconds of one allreduce of the gradient buffer, and its bus bandwidth (2(N−1)/N × bytes / s).
    var allreduceSeconds: Double
    var allreduceGBPerSecond: Double
    var peakResidentMiB: Double
}

struct BenchScale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Data-parallel QLoRA steps: 1 rank × 2 threads against 2 ranks × 1 thread, and the allreduce per step.",
        discussion: """
            SmolLM2-135M over NF4, a LoRA adapter on q_proj+v_proj, 4 prefix groups of one 512-token sequence \
            per optimizer step (each rank takes 2 under mpirun -np 2). Needs Open MPI's mpirun \
            (Scripts/setup installs it). Tokens/s is the whole job's: the global batch's tokens over the \
            step's wall time.
            """)

    @Option(help: "Timed optimizer steps per configuration (the median is reported), after one warm-up step.")
    var steps = 3
    @Option(help: "LoRA rank (the adapter's size is what the allreduce carries).")
    var rank = 16
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false
    @Flag(help: ArgumentHelp("Run one configuration in this process (under mpirun: one rank of it).", visibility: .hidden))
    var child = false

    func run() throws {
        if child { try measure(); return }
        let one = try runChild(ranks: 1, threads: 2)
        let two = try runChild(ranks: 2, threads: 1)
        if json { try printJSON([one, two]); return }
        print("SmolLM2-135M over NF4, LoRA r\(rank) on q_proj+v_proj, 4 × 512 tokens per optimizer step, median of \(steps) steps")
        print("")
        print("configuration           tokens/s   step s   allreduce: floats     bytes   seconds   GB/s (bus)   peak RSS/rank")
        for r in [one, two] {
            print("\(r.ranks) rank\(r.ranks > 1 ? "s" : " ") × \(r.threadsPerRank) thread\(r.threadsPerRank > 1 ? "s" : " ")".padding(toLength: 22, withPad: " ", startingAt: 0)
                  + String(format: " %9.1f %8.2f %18d %9d %9.4f %12.2f %10.0f MiB", r.tokensPerSecond, r.stepSeconds,
                           r.allreduceFloats, r.allreduceBytes, r.allreduceSeconds, r.allreduceGBPerSecond, r.peakResidentMiB))
        }
        print("")
        print(String(format: "2 ranks / 1 rank: %.2f× the tokens/s; the allreduce is %.3f%% of a 2-rank step",
                     two.tokensPerSecond / one.tokensPerSecond, 100 * two.allreduceSeconds / two.stepSeconds))
    }

    /// This executable with `scale --child`, alone or under `mpirun -np ranks`, with `threads` kernel threads
    /// per rank; rank 0's result.
    func runChild(ranks: Int, threads: Int) throws -> ScaleResult {
        var launcher: [String] = []
        if ranks > 1 {
            guard let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw ValidationError("mpirun not found: install openmpi-bin (bash Scripts/setup does)")
            }
            launcher = [mpirun, "-np", String(ranks), "--oversubscribe", "--bind-to", "none"]
        }
        var env = ProcessInfo.processInfo.environment
        env["AUTORE_THREADS"] = String(threads)
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"   // containers forbid the cross-memory attach
        progress("\(ranks) rank\(ranks > 1 ? "s" : "") × \(threads) thread\(threads > 1 ? "s" : "")")
        return try runBenchChild(["scale", "--child", "--steps", String(steps), "--rank", String(rank)], launcher: launcher,
                                       environment: env, what: "scale, \(ranks) ranks")
    }

    /// One rank: the model, `steps` timed optimizer steps after a warm-up, then the allreduce alone.
    func measure() throws {
        let comm = try MPICommunicator.job()
        let model = try LlamaModel.load(path: try ModelLocation.resolve(nil), quantization: .nf4(doubleQuantization: true))
        try model.addAdapter("bench", config: LoRAConfig(rank: rank, alpha: 16, dropout: 0.05, targets: ["q_proj", "v_proj"]), seed: 1)
        let v = model.config.vocabSize, length = 512, count = 4
        let groups = (0..<count).map { b in
            let ids = (0..<length).map { ($0 * 7919 + b * 104_729 + 13) % v }
            return PrefixGroup(prefix: [], continuations: [Continuation(prompt: [ids[0]], answer: Array(ids.dropFirst()))])
        }
        let trainer = try Trainer(model: model, adapter: "bench", groups: groups,
                                  options: TrainingOptions(steps: 1_000, accumulation: count, learningRate: 1e-4))
        trainer.communicator = comm
        _ = try trainer.step()
        var times: [Double] = []
        for _ in 0..<max(1, steps) {
            try comm.barrier()
            times.append(try Stopwatch.seconds { _ = try trainer.step() })
        }
        let step = times.sorted()[times.count / 2]
        // The allreduce of one step: every adapter gradient and the loss, in Float32.
        let floats = trainer.parameters.reduce(1) { $0 + $1.1.value.count }
        var buffer = [Float](repeating: 1, count: floats), reduces: [Double] = []
        for _ in 0..<10 {
            try comm.barrier()
            reduces.append(try Stopwatch.seconds { try comm.allreduceSum(&buffer) })
        }
        let reduce = comm.size > 1 ? reduces.sorted()[reduces.count / 2] : 0
        let bus = comm.size > 1 ? 2 * Double(comm.size - 1) / Double(comm.size) * Double(4 * floats) / reduce / 1e9 : 0
        guard comm.isLead else { return }
        try printJSON(ScaleResult(ranks: comm.size, threadsPerRank: Threads.count, rank: rank, tokensPerStep: count * length,
                                  stepSeconds: step, tokensPerSecond: Double(count * length) / step,
                                  allreduceFloats: floats, allreduceBytes: 4 * floats, allreduceSeconds: reduce,
                                  allreduceGBPerSecond: bus, peakResidentMiB: peakResidentMiB()))
    }
}
