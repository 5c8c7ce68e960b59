// `autore bench …`: speed and memory measured as ratios within one run.
import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernels, generation and QLoRA training steps (release build).",
        subcommands: [
            BenchKernels.self,
            BenchGenerate.self,
            BenchQLoRA.self,
            BenchStems.self,
        ]
    )
}
