// What every fuzz target shares: the libFuzzer entry point, a scratch folder for readers that take a path,
// and the splitting of one input into several files. Not a reader of any format.
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's callback: one input, `count` bytes at `data`; returns 0.
public typealias FuzzInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: FuzzInput) -> CInt

/// Runs libFuzzer (linked without its own `main`: SwiftPM names each executable's entry `<module>_main`)
/// with the process arguments, calling `test` once per input.
///
///     @_cdecl("fuzz_gguf_main") public func entry(_ argc: CInt, _ argv: Argv) -> CInt { runFuzzer(argc, argv, test) }
public typealias Argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
public func runFuzzer(_ argc: CInt, _ argv: Argv, _ test: FuzzInput) -> CInt {
    var c = argc, v = argv
    return LLVMFuzzerRunDriver(&c, &v, test)
}

/// The input as bytes (libFuzzer passes a null pointer for the empty input).
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
    guard let data, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: count))
}

/// Separates the files of a multi-file input (index and shards, adapter config and weights): a line `--8<--`.
public let fileSeparator = Array("\n--8<--\n".utf8)

/// `bytes` cut at each `fileSeparator`, at most `limit` parts (the last keeps any further separators).
public func splitFiles(_ bytes: [UInt8], limit: Int) -> [ArraySlice<UInt8>] {
    var parts: [ArraySlice<UInt8>] = [], start = 0, i = 0
    let s = fileSeparator
    while i + s.count <= bytes.count, parts.count < limit - 1 {
        if bytes[i] == s[0], bytes[i..<(i + s.count)].elementsEqual(s) {
            parts.append(bytes[start..<i]); i += s.count; start = i
        } else { i += 1 }
    }
    parts.append(bytes[start...])
    return parts
}

/// A folder of its own under $TMPDIR (Scripts/fuzz points it at a fresh folder, in memory where it can),
/// emptied before each input.
public final class Scratch: @unchecked Sendable {
    public let folder: String

    public init(_ name: String) {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        folder = "\(base)/autore-fuzz-\(name)-\(getpid())"
        mkdir(folder, 0o700)
    }

    public func path(_ file: String) -> String { folder + "/" + file }

    /// Removes every file in the folder (the targets write no subfolders).
    public func clear() {
        guard let d = opendir(folder) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { unlink(path(name)) }
        }
    }

    /// Writes `bytes` to `file` in the folder and returns its path.
    @discardableResult
    public func write<C: Collection>(_ bytes: C, to file: String) -> String where C.Element == UInt8 {
        let p = path(file)
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(p) (errno \(errno))")
        defer { close(fd) }
        let a = Array(bytes)
        var done = 0
        while done < a.count {
            let n = a[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            precondition(n > 0, "cannot write \(p) (errno \(errno))")
            done += n
        }
        return p
    }
}
