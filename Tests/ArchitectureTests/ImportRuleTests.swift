// The target graph as Docs/ARCHITECTURE.md states it: every `import` of a package target (or of a package
// dependency) in Sources/<Target>/ must be one the table allows that target, and every target must have a
// row. Reads the files as text; builds nothing.
import Foundation
import Testing

@Suite struct ImportRuleTests {
    /// The package root: three levels above this file (Tests/ArchitectureTests/ImportRuleTests.swift).
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Modules of the package's dependencies, checked like targets (Foundation and the system are not).
    static let dependencies: Set<String> = ["ArgumentParser", "Yams", "Collections", "Numerics"]

    /// Target → the modules it may import, from the table between `<!-- targets -->` and `<!-- /targets -->`:
    /// rows `| Target | what it owns | A, B, … |` ("—" for none).
    static func allowed() throws -> [String: Set<String>] {
        let text = try String(contentsOf: package.appendingPathComponent("Docs/ARCHITECTURE.md"), encoding: .utf8)
        guard let start = text.range(of: "<!-- targets -->"), let end = text.range(of: "<!-- /targets -->") else { return [:] }
        var out: [String: Set<String>] = [:]
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let name = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            guard !name.isEmpty, name != "target", !name.hasPrefix("-") else { continue }
            out[name] = Set(cells[3].split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " `")) }.filter { $0 != "—" && !$0.isEmpty })
        }
        return out
    }

    /// The modules a source file imports (`import X`, `@testable import X`, `@_exported import X`).
    static func imports(_ file: URL) throws -> [String] {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0.hasPrefix("@") }), i + 1 < words.count else { return nil }
            return String(words[i + 1])
        }
    }

    @Test func everyTargetHasARowAndImportsOnlyWhatItsRowAllows() throws {
        let table = try Self.allowed()
        #expect(!table.isEmpty, "Docs/ARCHITECTURE.md has no targets table")
        let sources = Self.package.appendingPathComponent("Sources")
        let targets = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { !$0.hasPrefix(".") }.sorted()
        let checked = Set(targets).union(Self.dependencies)
        for target in targets {
            guard let allowed = table[target] else { Issue.record("Sources/\(target) has no row in Docs/ARCHITECTURE.md"); continue }
            let dir = sources.appendingPathComponent(target)
            guard let files = FileManager.default.enumerator(atPath: dir.path)?.compactMap({ $0 as? String }) else { continue }
            for f in files.sorted() where f.hasSuffix(".swift") {
                for m in try Self.imports(dir.appendingPathComponent(f)) where checked.contains(m) && m != target {
                    #expect(allowed.contains(m), "Sources/\(target)/\(f) imports \(m), which its row does not allow")
                }
            }
        }
        for name in table.keys where !targets.contains(name) { Issue.record("Docs/ARCHITECTURE.md lists \(name), which Sources has no folder for") }
    }

    /// Only the BLAS wrapper layers and the benchmarks call BLAS directly.
    @Test func onlyTheBLASWrappersAndTheBenchmarksImportCBLAS() throws {
        let table = try Self.allowed()
        let users = table.filter { $0.value.contains("CBLAS") }.keys.sorted()
        #expect(users == ["Autograd", "Quantization", "autore-bench"], "\(users)")
    }
}
