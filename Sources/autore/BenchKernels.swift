// `autore bench kernels`: Tensor matmul vs raw cblas_sgemm, and the fused kernels.
import ArgumentParser

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GFLOP/s of Tensor matmul next to raw cblas_sgemm, and RMSNorm/softmax/RoPE/attention throughput.")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        throw ValidationError("not built yet")
    }
}
