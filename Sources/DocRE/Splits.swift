// Which documents form each split (with the documented fallback when train_revised.json is absent), a
// split sliced as a config writes it (`dev[0:400]`), and the documents of such a slice. Not where the
// files are (DataLocation).
import Foundation

/// A split name or slice that cannot be read, or a slice past the end of its split.
public struct SplitError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var reason: String
    public init(file: String, reason: String) { self.file = file; self.reason = reason }
    public var description: String { "\(file): \(reason)" }
}

/// Named splits. With train_revised.json present: train = train, select = dev.
/// Without it (the documented fallback): train = dev[0..<400], select = dev[400..<500].
/// `dev` and `test` are always the full files.
public enum Split: String, CaseIterable, Sendable {
    case train, select, dev, test

    public static let fallbackTrainCount = 400
}

public struct SplitLoader {
    public let directory: URL
    public init(directory: URL) { self.directory = directory }

    /// Nil when no data directory is found (tests skip then).
    public init?(dataDir: String? = nil) {
        guard let d = DataLocation.redocredDirectory(dataDir) else { return nil }
        directory = d
    }

    public var hasTrainFile: Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("train_revised.json").path)
    }

    /// The documents of a split, and a note when the fallback slice was used.
    public func load(_ split: Split) throws -> (documents: [Document], note: String?) {
        func file(_ n: String) throws -> [Document] { try DocumentLoader.load(directory.appendingPathComponent(n)) }
        switch split {
        case .dev: return (try file("dev_revised.json"), nil)
        case .test: return (try file("test_revised.json"), nil)
        case .train:
            if hasTrainFile { return (try file("train_revised.json"), nil) }
            let dev = try file("dev_revised.json")
            return (Array(dev.prefix(Split.fallbackTrainCount)),
                    "train_revised.json absent: train = first \(Split.fallbackTrainCount) dev documents")
        case .select:
            let dev = try file("dev_revised.json")
            if hasTrainFile { return (dev, nil) }
            return (Array(dev.dropFirst(Split.fallbackTrainCount)),
                    "train_revised.json absent: select = dev documents \(Split.fallbackTrainCount)..<\(dev.count)")
        }
    }

    public func catalogue() throws -> RelationCatalogue {
        let u = directory.appendingPathComponent("rel_info.json")
        return FileManager.default.fileExists(atPath: u.path) ? try RelationCatalogue(relInfo: u) : .standard
    }
}

/// A split, optionally sliced: `dev`, `dev[0:400]`, `train[:100]`.
public struct SplitSlice: Equatable, Sendable, CustomStringConvertible {
    public var split: Split
    public var range: Range<Int>?

    public init(split: Split, range: Range<Int>? = nil) { self.split = split; self.range = range }

    public init(parsing text: String, file: String = "config") throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        let name = t.prefix { $0 != "[" }
        guard let s = Split(rawValue: String(name)) else {
            throw SplitError(file: file, reason: "unknown split '\(name)' in '\(text)' (train, select, dev or test)")
        }
        split = s
        guard t.count > name.count else { range = nil; return }
        let inner = t.dropFirst(name.count)
        guard inner.hasPrefix("["), inner.hasSuffix("]") else { throw SplitError(file: file, reason: "bad slice '\(text)' (write dev[0:400])") }
        let parts = inner.dropFirst().dropLast().split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let lo = parts[0].isEmpty ? 0 : Int(parts[0]), let hi = parts[1].isEmpty ? Int.max : Int(parts[1]), lo >= 0, lo < hi else {
            throw SplitError(file: file, reason: "bad slice '\(text)' (write dev[0:400])")
        }
        range = lo..<hi
    }

    public var description: String {
        guard let r = range else { return split.rawValue }
        return "\(split.rawValue)[\(r.lowerBound):\(r.upperBound == Int.max ? "" : String(r.upperBound))]"
    }
}

/// Documents of a (possibly sliced) split, with the note a report must carry when a fallback was used.
public struct SplitDocuments {
    public var slice: SplitSlice
    public var documents: [Document]
    public var note: String?

    public init(_ slice: SplitSlice, loader: SplitLoader) throws {
        let (docs, note) = try loader.load(slice.split)
        try self.init(slice, of: docs, note: note)
    }

    /// The slice of a split already loaded (`docs` are all of `slice.split`'s documents).
    public init(_ slice: SplitSlice, of docs: [Document], note: String?) throws {
        self.slice = slice
        self.note = note
        if let r = slice.range {
            guard r.lowerBound < docs.count else {
                throw SplitError(file: "data", reason: "slice \(slice) starts past the \(docs.count) documents of \(slice.split.rawValue)")
            }
            documents = Array(docs[r.lowerBound..<min(r.upperBound, docs.count)])
        } else {
            documents = docs
        }
    }
}
