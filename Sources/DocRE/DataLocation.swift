// Where the Re-DocRED files, the project-authored `Data/` files and the experiments are found: under the
// root the user names (`--root`, AUTORE_ROOT, the current directory). Which documents form a split: Splits.
import Foundation

public enum DataLocation {
    /// Re-DocRED directory: explicit `dataDir` → env `AUTORE_DATA` → `$AUTORE_HOME/data/redocred`
    /// (AUTORE_HOME defaults to ~/.cache/autore) → `<root>/../shared/data/redocred`.
    /// Returns the first candidate holding `dev_revised.json`, or nil.
    public static func redocredDirectory(_ dataDir: String? = nil) -> URL? {
        let env = ProcessInfo.processInfo.environment
        var candidates: [URL] = []
        if let d = dataDir { candidates.append(URL(fileURLWithPath: d)) }
        if let d = env["AUTORE_DATA"] { candidates.append(URL(fileURLWithPath: d)) }
        let home = env["AUTORE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/autore")
        candidates.append(home.appendingPathComponent("data/redocred"))
        candidates.append(root.deletingLastPathComponent().appendingPathComponent("shared/data/redocred"))
        if dataDir != nil { return candidates.first }  // an explicit choice is never overridden
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("dev_revised.json").path) }
    }

    /// `redocred_properties.json` (Wikidata labels and descriptions): `<redocred>/../wikidata/`, then
    /// the same next to the redocred directory under AUTORE_HOME.
    public static func wikidataProperties(_ dataDir: String? = nil) -> URL? {
        guard let r = redocredDirectory(dataDir) else { return nil }
        let u = r.deletingLastPathComponent().appendingPathComponent("wikidata/redocred_properties.json")
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    /// The experiments root, where `Experiments/` and `Data/` are: what `--root` sets, else env `AUTORE_ROOT`,
    /// else the current directory. Never where the source was compiled: an installed binary reads and writes
    /// where its user works.
    public static var root: URL {
        get {
            chosenRoot ?? ProcessInfo.processInfo.environment["AUTORE_ROOT"].map { URL(fileURLWithPath: $0) }
                ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        }
        set { chosenRoot = newValue }
    }
    private static var chosenRoot: URL?

    /// `path` as a reader of this repository would type it: relative to the root when inside it
    /// (`Experiments/ablations/D_F.yaml`), else as given.
    public static func shown(_ path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path, base = root.standardizedFileURL.path + "/"
        return absolute.hasPrefix(base) ? String(absolute.dropFirst(base.count)) : path
    }

    /// Project-authored data directory (`Data/`).
    public static var projectData: URL { root.appendingPathComponent("Data") }
}
