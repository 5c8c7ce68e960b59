// Append-only files of whole lines (JSON Lines: a metrics log, predictions written batch by batch) that
// never end in a part of a line, whatever stops the writer. Not for files rewritten whole: see AtomicFile.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Appends whole lines to a file.
///
///     let log = try LineFile(path: "run/metrics.jsonl")      // a torn last line of a killed writer is dropped
///     try log.append(Data("{\"step\":1}\n".utf8))           // one write(2) of whole lines, then fsync
///
/// Each `append` is one write(2) of whole lines (`lines` ends in a newline). A write the system stops
/// short (a full disk: ENOSPC; a file-size limit: EFBIG) is cut back with ftruncate(2) to where it began,
/// and one `FileWriteError` names the file and the errno text: the file keeps the lines it had. A process
/// killed in the middle of a write can still leave part of a line (the kernel may stop a large write at
/// a fatal signal); opening the file again drops it (`dropPartialLastLine`).
public final class LineFile {
    public let path: String
    private var fd: Int32

    /// Opens `path` for appending, creating it (mode 0644) when absent; a last line without its newline
    /// is removed first.
    public init(path: String) throws {
        self.path = path
        try Self.dropPartialLastLine(path)
        let existed = FileManager.default.fileExists(atPath: path)
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError.errno(path, "cannot open for appending") }
        if !existed { try AtomicFile.syncFolder(of: path) }   // the new name, durable
    }

    deinit { close() }

    public func close() {
        guard fd >= 0 else { return }
        _ = Glibc.close(fd)
        fd = -1
    }

    /// Appends `lines` (whole lines: it must end in "\n") with one write(2), then fsync(2)s the file.
    public func append(_ lines: Data) throws {
        precondition(lines.last == 0x0A, "LineFile.append takes whole lines")
        guard fd >= 0 else { throw FileWriteError(path: path, reason: "appended to after closing") }
        var end = stat()
        guard fstat(fd, &end) == 0 else { throw FileWriteError.errno(path, "cannot read the file's size") }
        let start = end.st_size
        var written = 0, code: Int32 = 0
        lines.withUnsafeBytes { raw in
            repeat { written = Glibc.write(fd, raw.baseAddress!, raw.count) } while written < 0 && errno == EINTR
            if written < 0 { code = errno; return }
            // Short: the system stopped the write (full disk, size limit). Try the rest, which either
            // completes the line or says why it cannot.
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; code = errno; return }
                written += n
            }
        }
        if code != 0 {
            // Cut back to the whole lines the file had; shrinking needs no space and passes any size limit.
            let cut = ftruncate(fd, start) == 0 ? "" : "; could not cut back the \(max(0, written)) bytes written"
            throw FileWriteError.errno(path, "cannot append \(lines.count) bytes\(cut)", code)
        }
        guard fsync(fd) == 0 else { throw FileWriteError.errno(path, "cannot sync the appended lines to disk") }
    }

    /// Removes a last line that has no newline (what a killed writer leaves); no file, nothing to do.
    public static func dropPartialLastLine(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let last = data.last, last != 0x0A else { return }
        let keep = data.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        guard truncate(path, off_t(keep)) == 0 else { throw FileWriteError.errno(path, "cannot remove the partial last line") }
    }
}
