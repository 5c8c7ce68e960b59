// Running the built `autore` as a child process for the command-line tests: arguments, an optional file-size
// limit (RLIMIT_FSIZE, set by a shell with `ulimit -f` before exec, SIGXFSZ ignored so that write(2) fails
// with EFBIG instead of killing the child), standard error captured.
import Foundation
import TestSupport

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

    /// Runs `autore args…` to the end: its exit status, standard output and standard error (the latter through
    /// a file, so that neither stream can fill up and block the child while the other is read).
    func output(_ args: [String]) throws -> (status: Int32, output: String, errors: String) {
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("autore-stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        let out = Pipe(), err = try FileHandle(forWritingTo: errFile)
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try err.close()
        return (p.terminationStatus, String(decoding: output, as: UTF8.self), try String(contentsOf: errFile, encoding: .utf8))
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

/// The inputs of a tiny training run under `root`: `model/` (a Llama with a byte-level vocabulary, 256 byte
/// tokens and an end-of-text token, and its tokenizer.json) and `data/` (the fixture documents as Re-DocRED's
/// dev split). Returns the two folders.
func writeTinyRunInputs(root: URL, seed: UInt64) throws -> (model: URL, data: URL) {
    let model = root.appendingPathComponent("model"), data = root.appendingPathComponent("data")
    for d in [model, data] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
    try TinyLlama.byteLevel(hidden: 16, intermediate: 32, maxPositions: 2048, tiedEmbeddings: true, seed: seed)
        .write(to: model.path, withTokenizer: true)
    let documents = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/fixtures/tiny_redocred.json")
    try FileManager.default.copyItem(at: documents, to: data.appendingPathComponent("dev_revised.json"))
    return (model, data)
}

/// The config of a tiny training run over `writeTinyRunInputs`' model: D_R_H_F with one r4 adapter on q,v
/// (dropout on, so that generator states matter), learning rate 1e-2, `training` and `data` as given, and
/// `extra` lines appended.
func tinyRunConfig(name: String, model: URL, training: String, data: String = #"{train: dev, select: "dev[0:1]"}"#,
                   extra: String = "") -> String {
    """
    name: \(name)
    base_model: \(model.path)
    quantization: nf4
    paradigm: D_R_H_F
    stage: all
    chat_template: none
    lora: {rank: 4, alpha: 8, dropout: 0.1, targets: [q_proj, v_proj]}
    optimizer: {learning_rate: 1.0e-2, schedule: cosine, warmup_steps: 2}
    training: \(training)
    data: \(data)
    evaluation: {every: 1000, loss_groups: 1}

    """ + extra
}
