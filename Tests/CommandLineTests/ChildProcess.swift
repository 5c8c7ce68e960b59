// Running the built `autore` as a child process for the command-line tests: arguments, an optional file-size
// limit (RLIMIT_FSIZE, set by a shell with `ulimit -f` before exec, SIGXFSZ ignored so that write(2) fails
// with EFBIG instead of killing the child), standard error captured.
import Foundation

struct Child {
    let exe: URL

    /// Starts `autore args…` (not waited for); standard error goes to `stderr` when given, else nowhere.
    func start(_ args: [String], fileSizeLimitKB: Int? = nil, stderr: Pipe? = nil) throws -> Process {
        let p = Process()
        if let kb = fileSizeLimitKB {
            // bash counts `ulimit -f` in 1024-byte blocks
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-c", "trap '' XFSZ; ulimit -f \(kb) && exec \"$0\" \"$@\"", exe.path] + args
        } else {
            p.executableURL = exe
            p.arguments = args
        }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = stderr ?? FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs `autore args…` to the end: its exit status and standard error.
    func run(_ args: [String], fileSizeLimitKB: Int? = nil) throws -> (status: Int32, errors: String) {
        let err = Pipe()
        let p = try start(args, fileSizeLimitKB: fileSizeLimitKB, stderr: err)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }
}

extension String {
    /// The lines of an `autore` error output that report the error (ArgumentParser prints "Error: …").
    var errorLines: [Substring] { split(separator: "\n").filter { $0.hasPrefix("Error:") } }
}
