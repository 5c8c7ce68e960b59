// Writing files so that a killed writer, a full disk or a file-size limit leaves the previous file or the
// new one, never a part and never no file: a temporary file in the same folder, fsync, rename(2) over the
// target, fsync of the folder. Not a serialiser: callers bring the bytes (or write the temporary file).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file that could not be written: its path and the system's reason (the errno text when there is one).
public struct FileWriteError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
    public init(path: String, reason: String) { self.path = path; self.reason = reason }

    /// `what` failed with the current errno: "cannot write (No space left on device)".
    static func errno(_ path: String, _ what: String, _ code: Int32 = Glibc.errno) -> FileWriteError {
        FileWriteError(path: path, reason: "\(what) (\(String(cString: strerror(code))))")
    }
}

/// Replaces files whole.
///
///     try AtomicFile.write(Data(text.utf8), to: "results/README.md")
///     try AtomicFile.write(to: "run/checkpoint.h5") { tmp in try hdf5.write(tmp) }   // a library writes the file
///
/// The sequence, for target `dir/name`:
///   1. write `dir/.name.<pid>-<random>.tmp` (created exclusively, mode 0644), every byte (short writes retried);
///   2. fsync it, so its bytes are on disk before its name is;
///   3. rename(2) it over `dir/name` — atomic: a reader sees the old file or the new one, at every moment;
///   4. fsync `dir`, so the rename itself survives a crash.
/// Any failure (ENOSPC or EFBIG from write or fsync included) removes the temporary file, leaves the
/// previous `dir/name` as it was, and throws one `FileWriteError` naming `dir/name` and the errno text.
public enum AtomicFile {
    /// Writes `data` to `path` (see the sequence above).
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { tmp in
            do { try writeNew(data, to: tmp) } catch let e as FileWriteError { throw FileWriteError(path: path, reason: e.reason) }
        }
    }

    public static func write(_ data: Data, to url: URL) throws { try write(data, to: url.path) }

    /// Writes `text` as UTF-8.
    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }

    /// For writers that create the file themselves (the HDF5 library): `body` writes the temporary path it
    /// is given, then steps 2–4 put it in place. `body`'s own errors are passed on unchanged; the temporary
    /// file is removed either way.
    public static func write(to path: String, using body: (_ temporary: String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            try body(tmp)
            try commit(tmp, to: path)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Steps 2–4 for a file already written at `temporary` (in the folder of `path`): fsync, rename over
    /// `path`, fsync the folder. On failure `temporary` is removed and `path` left as it was.
    public static func commit(_ temporary: String, to path: String) throws {
        do {
            try sync(temporary, reportedAs: path)
            guard rename(temporary, path) == 0 else { throw FileWriteError.errno(path, "cannot rename the temporary file into place") }
        } catch {
            unlink(temporary)
            throw error
        }
        try syncFolder(of: path)
    }

    /// `dir/.name.<pid>-<random>.tmp`: hidden, in the target's folder (rename(2) does not cross file systems),
    /// unique per process and call.
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        return dir + "/." + url.lastPathComponent + ".\(getpid())-\(UUID().uuidString.prefix(8)).tmp"
    }

    /// Creates `path` (it must not exist) and writes every byte of `data` to it, then closes it. No fsync:
    /// `commit` syncs. On failure the partial file is removed.
    public static func writeNew(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError.errno(path, "cannot create the file") }
        var failure: FileWriteError?
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .errno(path, "cannot write (\(done) of \(raw.count) bytes written)")
                    return
                }
                done += n
            }
        }
        if failure != nil { close(fd) } else if close(fd) != 0 { failure = .errno(path, "cannot close") }
        if let failure { unlink(path); throw failure }
    }

    /// fsync(2) of a file; errors name `reportedAs` (the target, not the temporary name).
    static func sync(_ path: String, reportedAs name: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileWriteError.errno(name, "cannot reopen the written file to sync it") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileWriteError.errno(name, "cannot sync the written file to disk") }
    }

    /// fsync(2) of the folder holding `path`, so that a rename or a new name in it is durable.
    public static func syncFolder(of path: String) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileWriteError.errno(dir, "cannot open the folder to sync it") }
        defer { close(fd) }
        // Some file systems cannot sync a folder (EINVAL); the rename has happened either way.
        guard fsync(fd) == 0 || errno == EINVAL else { throw FileWriteError.errno(dir, "cannot sync the folder") }
    }

    /// Puts the folder `temporary` (filled and synced by the caller, beside `path`) in place of the folder
    /// `path`. When `path` exists the two are swapped in one step (renameat2 RENAME_EXCHANGE, Linux ≥ 3.15)
    /// and the old folder removed; where that is unavailable, the old folder is renamed aside first, so a
    /// kill between the two renames leaves it whole at `.name.old-<pid>`. Then the parent is synced.
    public static func replaceFolder(_ path: String, with temporary: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) {
            if let exchange = renameExchange, exchange(AT_FDCWD, temporary, AT_FDCWD, path, 2 /* RENAME_EXCHANGE */) == 0 {
                try? fm.removeItem(atPath: temporary)   // now the old folder
            } else {
                let url = URL(fileURLWithPath: path)
                let old = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".old-\(getpid())"
                try? fm.removeItem(atPath: old)
                guard rename(path, old) == 0 else { throw FileWriteError.errno(path, "cannot move the previous folder aside") }
                guard rename(temporary, path) == 0 else {
                    let code = errno
                    _ = rename(old, path)
                    throw FileWriteError.errno(path, "cannot rename the new folder into place", code)
                }
                try? fm.removeItem(atPath: old)
            }
        } else {
            guard rename(temporary, path) == 0 else { throw FileWriteError.errno(path, "cannot rename the new folder into place") }
        }
        try syncFolder(of: path)
    }

    /// renameat2(2), looked up at run time: the C library declares it only under _GNU_SOURCE, which the
    /// Swift Glibc module does not set.
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    static let renameExchange: RenameAt2? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: RenameAt2.self)
    }()
}
