// `autore-bench …`: speed and memory measured as ratios within one run. A tool of its own, beside the
// product's `autore`: the only place outside the BLAS wrapper layers that calls BLAS directly.
import ArgumentParser
import Foundation

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autore-bench",
        abstract: "Measure kernels, generation, QLoRA training steps and data-parallel scaling (release build).",
        subcommands: [
            BenchKernels.self,
            BenchGenerate.self,
            BenchQLoRA.self,
            BenchScale.self,
            BenchStems.self,
        ]
    )

    /// Standard output line by line, so that results interleave with the progress lines on a pipe or log.
    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)
        main(nil)
    }
}

/// Prints an Encodable value as one JSON line.
func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}
