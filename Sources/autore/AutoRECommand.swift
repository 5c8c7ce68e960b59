// The `autore` command-line tool: one subcommand per job a researcher runs.
// Each subcommand lives in its own file; this one only lists them.
import ArgumentParser
import Foundation
import ModelFormats
import Tokenization

@main
struct AutoRECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autore",
        abstract: "QLoRA fine-tuning and document-level relation extraction (AutoRE's RHF) in Swift.",
        subcommands: [
            InspectCommand.self,
            TokenizeCommand.self,
            GenerateCommand.self,
            LogitsCommand.self,
            DataCommand.self,
            EvalCommand.self,
            TrainCommand.self,
            ExtractCommand.self,
            RunCommand.self,
            SweepCommand.self,
            ReportCommand.self,
            AdapterCommand.self,
        ]
    )

    /// Standard output line by line, so that results interleave with the progress lines on a pipe or log.
    /// Standard error line by line too: ArgumentParser writes an error message a byte at a time (`putc`), so
    /// on unbuffered stderr the messages of two ranks under mpirun interleaved mid-line; every other
    /// message here is one write(2) of its own (`FileHandle.standardError`). A file-size limit (`ulimit -f`) makes write(2) fail with EFBIG, reported as an error naming the file,
    /// instead of killing the process with SIGXFSZ mid-write.
    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)
        setvbuf(stderr, nil, _IOLBF, 0)
        signal(SIGXFSZ, SIG_IGN)
        StopSignal.install()
        main(nil)
    }
}
