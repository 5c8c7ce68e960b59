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
            BenchExtract.self,
            BenchTrain.self,
            BenchSgemmCheck.self,
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

/// Runs this executable with `arguments` in a child process (after `launcher`, e.g. mpirun and its options,
/// when given) and decodes the last line the child prints as a `T`; `what` names the run in errors.
func runBenchChild<T: Decodable>(_ arguments: [String], launcher: [String] = [], environment: [String: String]? = nil,
                            what: String) throws -> T {
    let own = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let exe = FileManager.default.isExecutableFile(atPath: own.path) ? own : URL(fileURLWithPath: CommandLine.arguments[0])
    guard FileManager.default.isExecutableFile(atPath: exe.path) else {
        throw ValidationError("cannot find this executable to run \(what) in a child process (tried \(own.path), \(exe.path))")
    }
    let p = Process()
    if let first = launcher.first {
        p.executableURL = URL(fileURLWithPath: first)
        p.arguments = Array(launcher.dropFirst()) + [exe.path] + arguments
    } else {
        p.executableURL = exe
        p.arguments = arguments
    }
    if let environment { p.environment = environment }
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw ValidationError("\(what): the child process exited with status \(p.terminationStatus)") }
    guard let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
          let r = try? JSONDecoder().decode(T.self, from: Data(line.utf8)) else {
        throw ValidationError("\(what): the child process printed no result")
    }
    return r
}
