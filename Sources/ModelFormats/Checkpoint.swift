// Training checkpoints in HDF5: named Float32 arrays (adapter weights, optimizer moments), integers,
// UInt64 words (generator states) and strings (the run config), written to a temporary file, synced and
// renamed (Support.AtomicFile), so a killed run or a full disk never leaves a half-written checkpoint.
// The file opens with a 512-byte block of our own (HDF5's user block, which the library skips): a magic
// line, the length of what follows and its CRC-32. A reader checks it before the HDF5 library sees the
// file, so a truncated or altered checkpoint is refused by this code, not parsed by the library.
// Not a model format (safetensors, GGUF).
import CHDF5
import Foundation
import Support

public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
}

/// A Float32 array with its shape.
public struct FloatArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }
}

/// Everything a training run needs to continue exactly where it stopped.
///
///     var c = Checkpoint()
///     c.floats["adapter/model.layers.0.self_attn.q_proj.lora_A.facts.weight"] = FloatArray(shape: [8, 576], values: a)
///     c.integers["step"] = 120
///     try c.save(to: "run/checkpoint.h5")
///     let back = try Checkpoint(contentsOf: "run/checkpoint.h5")
public struct Checkpoint: Equatable, Sendable {
    public var floats: [String: FloatArray] = [:]
    public var integers: [String: Int64] = [:]
    public var words: [String: [UInt64]] = [:]
    public var strings: [String: String] = [:]

    public init() {}

    /// Dataset names are the keys with a kind prefix; an index dataset lists them (JSON) for reading.
    static let indexName = "__index__"
    struct Entry: Codable { var name: String; var kind: String; var shape: [Int] }

    /// Writes the checkpoint to `path` atomically: the HDF5 library writes a temporary file in the same
    /// folder, which `AtomicFile` syncs and renames over `path` (then syncs the folder). A failed write
    /// (a full disk included) leaves the previous checkpoint as it was.
    public func save(to path: String) throws {
        do { try AtomicFile.write(to: path) { tmp in try write(tmp, reportedAs: path) } } catch let e as FileWriteError {
            throw CheckpointError(path: path, reason: e.reason)
        }
    }

    /// Writes the HDF5 file at `path` (a temporary name); errors name `target` (the checkpoint) and, when
    /// the system said why (ENOSPC, EFBIG), its reason.
    func write(_ path: String, reportedAs target: String) throws {
        HDF5.quiet()
        func fail(_ reason: String) -> CheckpointError {
            CheckpointError(path: target, reason: reason + (errno == 0 ? "" : " (\(String(cString: strerror(errno))))"))
        }
        errno = 0
        let creation = H5Pcreate(H5P_CLS_FILE_CREATE_ID_g)
        defer { H5Pclose(creation) }
        H5Pset_userblock(creation, hsize_t(Self.headerSize))
        let file = H5Fcreate(path, 0x0002 /* H5F_ACC_TRUNC */, creation, 0)
        guard file >= 0 else { throw fail("cannot create an HDF5 file") }
        var closed = false
        defer { if !closed { H5Fclose(file) } }
        // Keys may contain "/" (HDF5 groups): let dataset creation make the groups on the way.
        let linkCreation = H5Pcreate(H5P_CLS_LINK_CREATE_ID_g)
        defer { H5Pclose(linkCreation) }
        H5Pset_create_intermediate_group(linkCreation, 1)
        var index: [Entry] = []
        func dataset(_ name: String, _ type: hid_t, _ dims: [Int], _ data: UnsafeRawPointer?) throws {
            var d = dims.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(d.count), &d, nil)
            guard space >= 0 else { throw fail("cannot create the dataspace of \(name)") }
            defer { H5Sclose(space) }
            let set = H5Dcreate2(file, name, type, space, linkCreation, 0, 0)
            guard set >= 0 else { throw fail("cannot create dataset \(name)") }
            defer { H5Dclose(set) }
            if dims.reduce(1, *) > 0, let data {
                errno = 0
                guard H5Dwrite(set, type, 0, 0, 0, data) >= 0 else { throw fail("cannot write dataset \(name)") }
            }
        }
        for (k, a) in floats.sorted(by: { $0.key < $1.key }) {
            guard a.values.count == a.shape.reduce(1, *) else {
                throw CheckpointError(path: target, reason: "\(k): \(a.values.count) values for shape \(a.shape)")
            }
            let name = "f:" + k
            try a.values.withUnsafeBytes { try dataset(name, H5T_NATIVE_FLOAT_g, [a.values.count], $0.baseAddress) }
            index.append(Entry(name: name, kind: "float", shape: a.shape))
        }
        for (k, v) in integers.sorted(by: { $0.key < $1.key }) {
            let name = "i:" + k
            try withUnsafeBytes(of: v) { try dataset(name, H5T_NATIVE_INT64_g, [1], $0.baseAddress) }
            index.append(Entry(name: name, kind: "int", shape: [1]))
        }
        for (k, v) in words.sorted(by: { $0.key < $1.key }) {
            let name = "w:" + k
            try v.withUnsafeBytes { try dataset(name, H5T_NATIVE_UINT64_g, [v.count], $0.baseAddress) }
            index.append(Entry(name: name, kind: "words", shape: [v.count]))
        }
        for (k, v) in strings.sorted(by: { $0.key < $1.key }) {
            let name = "s:" + k
            let bytes = Array(v.utf8)
            try bytes.withUnsafeBytes { try dataset(name, H5T_NATIVE_UCHAR_g, [bytes.count], $0.baseAddress) }
            index.append(Entry(name: name, kind: "string", shape: [bytes.count]))
        }
        let json = Array(try JSONEncoder().encode(index))
        try json.withUnsafeBytes { try dataset(Self.indexName, H5T_NATIVE_UCHAR_g, [json.count], $0.baseAddress) }
        // Closed whatever the flush says (a failed flush must not leave the file open); the first failure's
        // errno is the one reported.
        errno = 0
        let flushed = H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0
        let flushErrno = errno
        closed = true
        let closedWell = H5Fclose(file) >= 0
        guard flushed, closedWell else {
            if !flushed { errno = flushErrno }
            throw fail("cannot flush the HDF5 file")
        }
        try writeHeader(path, reportedAs: target)
    }

    // MARK: header

    /// The user block's size: HDF5 allows 512 or a larger power of two.
    static let headerSize = 512
    static let magic = Array("AutoRE-Swift checkpoint\n".utf8)

    /// The header for an HDF5 payload of `length` bytes with checksum `crc`: the magic line, then
    /// "v1 <length> <crc as 8 hex digits>\n", then zeros.
    static func header(length: Int, crc: UInt32) -> [UInt8] {
        var h = magic + Array("v1 \(length) \(String(format: "%08x", crc))\n".utf8)
        h += [UInt8](repeating: 0, count: headerSize - h.count)
        return h
    }

    /// Checksums what the library wrote after the user block and writes the header into the block.
    func writeHeader(_ path: String, reportedAs target: String) throws {
        guard let handle = FileHandle(forUpdatingAtPath: path) else {
            throw CheckpointError(path: target, reason: "cannot reopen the written file to add its header")
        }
        defer { try? handle.close() }
        do {
            try handle.seek(toOffset: UInt64(Self.headerSize))
            var crc: UInt32 = 0, length = 0
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                crc = chunk.withUnsafeBytes { CRC32.update(crc, $0) }
                length += chunk.count
            }
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: Self.header(length: length, crc: crc))
        } catch {
            throw CheckpointError(path: target, reason: "cannot write the checkpoint header (\(error.localizedDescription))")
        }
    }

    /// Checks the header of the file at `path`: true when it has ours and it matches, false when the file
    /// has none (written before checkpoints had one: read unverified); an error when it has ours and the
    /// rest is shorter, longer or altered.
    static func verify(_ path: String) throws -> Bool {
        func fail(_ reason: String) -> CheckpointError { CheckpointError(path: path, reason: reason) }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw fail("cannot open the file") }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: headerSize)) ?? Data())
        guard head.starts(with: magic) else { return false }
        guard head.count == headerSize else { throw fail("truncated: the file ends inside its \(headerSize)-byte header") }
        let line = head[magic.count...].prefix { $0 != 0x0A }
        let fields = String(decoding: line, as: UTF8.self).split(separator: " ")
        guard fields.count == 3, fields[0] == "v1", let length = Int(fields[1]), let crc = UInt32(fields[2], radix: 16) else {
            throw fail("the checkpoint header is damaged")
        }
        var actual: UInt32 = 0, seen = 0
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            actual = chunk.withUnsafeBytes { CRC32.update(actual, $0) }
            seen += chunk.count
        }
        guard seen == length else {
            throw fail("truncated or extended: \(seen) bytes after the header, the header says \(length)")
        }
        guard actual == crc else {
            throw fail(String(format: "corrupt: the CRC-32 of the contents is %08x, the header says %08x (a byte changed since it was written)", actual, crc))
        }
        return true
    }

    /// Reads a checkpoint; a missing, truncated or foreign file is one error naming it.
    public init(contentsOf path: String) throws {
        HDF5.quiet()
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError(path: path, reason: "no such checkpoint") }
        _ = try Self.verify(path)
        guard H5Fis_hdf5(path) > 0 else { throw CheckpointError(path: path, reason: "not an HDF5 checkpoint (truncated or another format)") }
        let file = H5Fopen(path, 0x0000 /* H5F_ACC_RDONLY */, 0)
        guard file >= 0 else { throw CheckpointError(path: path, reason: "cannot open the HDF5 file (truncated or corrupt)") }
        defer { H5Fclose(file) }
        // Our writer stores every value (no compression, no fill): a dataset cannot hold more values than
        // the file has bytes, whatever its dataspace claims.
        let fileBytes = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        func read<T>(_ name: String, _ type: hid_t, count: Int, as: T.Type) throws -> [T] {
            let set = H5Dopen2(file, name, 0)
            guard set >= 0 else { throw CheckpointError(path: path, reason: "missing dataset \(name)") }
            defer { H5Dclose(set) }
            let space = H5Dget_space(set)
            defer { H5Sclose(space) }
            let n = Int(H5Sget_simple_extent_npoints(space))
            guard n >= 0, n <= fileBytes / MemoryLayout<T>.stride else {
                throw CheckpointError(path: path, reason: "dataset \(name) claims \(n) values, more than the \(fileBytes)-byte file holds")
            }
            guard n == count || count < 0 else { throw CheckpointError(path: path, reason: "dataset \(name) holds \(n) values, the index says \(count)") }
            var out = [T](unsafeUninitializedCapacity: n) { _, c in c = n }
            if n > 0 {
                let status = out.withUnsafeMutableBytes { H5Dread(set, type, 0, 0, 0, $0.baseAddress) }
                guard status >= 0 else { throw CheckpointError(path: path, reason: "cannot read dataset \(name) (truncated or corrupt)") }
            }
            return out
        }
        let indexBytes = try read(Self.indexName, H5T_NATIVE_UCHAR_g, count: -1, as: UInt8.self)
        guard let index = try? JSONDecoder().decode([Entry].self, from: Data(indexBytes)) else {
            throw CheckpointError(path: path, reason: "the checkpoint index is not readable")
        }
        self.init()
        for e in index {
            let key = String(e.name.dropFirst(2))
            var n = 1
            for d in e.shape {
                let (p, overflow) = n.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else { throw CheckpointError(path: path, reason: "entry \(e.name) has shape \(e.shape)") }
                n = p
            }
            switch e.kind {
            case "float": floats[key] = FloatArray(shape: e.shape, values: try read(e.name, H5T_NATIVE_FLOAT_g, count: n, as: Float.self))
            case "int": integers[key] = try read(e.name, H5T_NATIVE_INT64_g, count: 1, as: Int64.self)[0]
            case "words": words[key] = try read(e.name, H5T_NATIVE_UINT64_g, count: n, as: UInt64.self)
            case "string": strings[key] = String(decoding: try read(e.name, H5T_NATIVE_UCHAR_g, count: n, as: UInt8.self), as: UTF8.self)
            default: throw CheckpointError(path: path, reason: "unknown entry kind '\(e.kind)' for \(e.name)")
            }
        }
    }
}

enum HDF5 {
    /// Opens the library (so the native type globals are set) and silences its own error printing:
    /// failures come back as Swift errors naming the file instead. Runs once.
    static let opened: Void = {
        _ = H5open()
        H5Eset_auto2(0 /* H5E_DEFAULT */, nil, nil)
    }()
    static func quiet() { _ = opened }
}
