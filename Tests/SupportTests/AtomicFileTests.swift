// The atomic writer leaves the previous file whole whenever a write fails, and never leaves its temporary
// file behind; the line file never keeps a partial last line. Real full-disk failures (EFBIG under a
// file-size limit) are tested on the `autore` executable in CommandLineTests.
import Foundation
import Testing
@testable import Support

@Suite struct AtomicFileTests {
    /// A fresh temporary folder.
    func folder() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("autore-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    func names(_ dir: URL) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }

    @Test func replacesTheFileWholeAndLeavesNoTemporaryFile() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("results.json").path
        try AtomicFile.write(Data("old\n".utf8), to: path)
        try AtomicFile.write(Data("new, longer\n".utf8), to: path)
        #expect(FileManager.default.contents(atPath: path) == Data("new, longer\n".utf8))
        #expect(try names(dir) == ["results.json"])
        #expect(AtomicFile.temporaryPath(for: path).hasPrefix(dir.path + "/.results.json."))
    }

    /// A writer that fails half-way (as the HDF5 library does on a full disk) leaves the previous file byte
    /// for byte, removes its temporary file, and passes its error on.
    @Test func aWriteThatFailsLeavesThePreviousFile() throws {
        struct DiskFull: Error {}
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("checkpoint.h5").path
        let old = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try AtomicFile.write(old, to: path)
        var temporary = ""
        #expect(throws: DiskFull.self) {
            try AtomicFile.write(to: path) { tmp in
                temporary = tmp
                try AtomicFile.writeNew(Data(repeating: 7, count: 100), to: tmp)   // part of a new file …
                throw DiskFull()                                                   // … then the disk is full
            }
        }
        #expect(!temporary.isEmpty && !FileManager.default.fileExists(atPath: temporary))
        #expect(FileManager.default.contents(atPath: path) == old)
        #expect(try names(dir) == ["checkpoint.h5"])
    }

    /// When the new file cannot be put in place (here the target is a folder), the error names the target and
    /// the system's reason, the temporary file is removed and the target is untouched.
    @Test func aFailedRenameNamesTheFileAndTheReason() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("report")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try Data("kept".utf8).write(to: target.appendingPathComponent("inside.txt"))
        do {
            try AtomicFile.write(Data("x".utf8), to: target.path)
            Issue.record("a file was renamed over a folder")
        } catch let e as FileWriteError {
            #expect(e.path == target.path)
            #expect(e.reason.contains(String(cString: strerror(EISDIR))), "\(e)")
        }
        #expect(try names(dir) == ["report"])
        #expect(FileManager.default.contents(atPath: target.appendingPathComponent("inside.txt").path) == Data("kept".utf8))
    }

    /// A file that cannot be created: one error naming it and the errno text.
    @Test func aMissingFolderIsOneErrorNamingTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autore-no-such-\(UUID().uuidString)/a.json").path
        do {
            try AtomicFile.write(Data("x".utf8), to: path)
            Issue.record("wrote into a missing folder")
        } catch let e as FileWriteError {
            #expect("\(e)".hasPrefix(path + ": ") && e.reason.contains(String(cString: strerror(ENOENT))), "\(e)")
        }
    }

    @Test func replacingAFolderSwapsItWhole() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("adapter"), tmp = dir.appendingPathComponent(".adapter.tmp")
        for (d, text) in [(target, "old"), (tmp, "new")] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: false)
            try AtomicFile.write(Data(text.utf8), to: d.appendingPathComponent("adapter_config.json").path)
        }
        try AtomicFile.replaceFolder(target.path, with: tmp.path)
        #expect(FileManager.default.contents(atPath: target.appendingPathComponent("adapter_config.json").path) == Data("new".utf8))
        #expect(try names(dir) == ["adapter"])
    }

    @Test func lineFileDropsATornLastLineAndAppendsWholeLines() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("metrics.jsonl").path
        try Data("{\"step\":1}\n{\"step\":2}\n{\"st".utf8).write(to: URL(fileURLWithPath: path))   // a killed writer's file
        let file = try LineFile(path: path)
        try file.append(Data("{\"step\":3}\n".utf8))
        file.close()
        #expect(String(decoding: FileManager.default.contents(atPath: path)!, as: UTF8.self) == "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n")
        // a file of one torn line becomes empty; a whole file is left alone
        try Data("{\"st".utf8).write(to: URL(fileURLWithPath: path))
        try LineFile.dropPartialLastLine(path)
        #expect(FileManager.default.contents(atPath: path) == Data())
        try LineFile.dropPartialLastLine(dir.appendingPathComponent("absent.jsonl").path)
        #expect(try names(dir) == ["metrics.jsonl"])
    }
}
