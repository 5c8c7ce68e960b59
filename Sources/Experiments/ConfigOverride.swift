// Settings changed without editing a config file: `autore run --config X.yaml --set lora.rank=8`, and a
// sweep's grid of such changes over one base config. The change is made on the YAML tree and the result is
// checked by the same strict parser as a file, so a misspelt key or a wrong type is the same one error.
import Foundation
import RHF
import Yams

/// One setting changed: a dotted key path into the config and a YAML value (`lora.rank=8`,
/// `lora.targets=[q_proj,k_proj]`, `optimizer.learning_rate=1e-4`).
public struct ConfigOverride: Equatable, CustomStringConvertible {
    public var path: [String]
    /// The value as YAML text (a scalar or a flow sequence / mapping).
    public var value: String

    public init(path: String, value: String) {
        self.path = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        self.value = value
    }

    /// `key.path=value`.
    public init(parsing text: String) throws {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw ConfigError(file: "--set \(text)", reason: "expected key=value, a dotted key path into the config (lora.rank=8)")
        }
        self.init(path: String(text[..<eq]).trimmingCharacters(in: .whitespaces),
                  value: String(text[text.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
    }

    public var key: String { path.joined(separator: ".") }
    public var description: String { "\(key)=\(value)" }

    /// The part of an experiment name that says what this override changed (safe in a folder name).
    var nameSuffix: String {
        String(description.map { $0.isLetter || $0.isNumber || "._=-".contains($0) ? $0 : "_" })
    }
}

extension ExperimentConfig {
    /// The YAML of `text` (the config file `file`) with `overrides` applied, in order. Unless an override
    /// sets `name`, the experiment's name gets them appended (`abl_x-lora.rank=8`), so that the changed
    /// experiment has its own run and results folders. The result is parsed as strictly as a file, and must
    /// name at least one of base_model, paradigm and data (`requireExperimentSettings`).
    public static func applying(_ overrides: [ConfigOverride], to text: String, file: String) throws -> (config: ExperimentConfig, text: String) {
        guard !overrides.isEmpty else {
            let config = try parse(text, file: file)
            try requireExperimentSettings(text, file: file)
            return (config, text)
        }
        let base = try parse(text, file: file)
        let source = "\(file) with " + overrides.map(\.description).joined(separator: ", ")
        guard var root = try? Yams.compose(yaml: text), root.mapping != nil else {
            throw ConfigError(file: file, reason: "the top level must be a mapping of keys")
        }
        for o in overrides {
            guard !o.path.contains(where: \.isEmpty) else { throw ConfigError(file: source, reason: "'\(o.key)' is not a key path") }
            let value: Node?
            do { value = try Yams.compose(yaml: o.value) } catch {
                throw ConfigError(file: source, reason: "the value of '\(o.key)' is not valid YAML: \(o.value)")
            }
            guard let value else { throw ConfigError(file: source, reason: "'\(o.key)' needs a value (\(o.key)=…)") }
            root = try setting(o.path[...], to: value, in: root, key: o.key, source: source)
        }
        if !overrides.contains(where: { $0.path == ["name"] }) {
            root.mapping?["name"] = Node(([base.name] + overrides.map(\.nameSuffix)).joined(separator: "-"))
        }
        let derived: String
        do { derived = try Yams.serialize(node: root, width: -1) } catch { throw ConfigError(file: source, reason: "\(error)") }
        let header = "# \(file) with " + overrides.map { "--set \($0)" }.joined(separator: " ") + "\n"
        let config = try parse(header + derived, file: source)
        try requireExperimentSettings(derived, file: source)
        return (config, header + derived)
    }

    /// `node` with the value at `path` replaced (missing mappings on the way are created).
    static func setting(_ path: ArraySlice<String>, to value: Node, in node: Node, key: String, source: String) throws -> Node {
        guard let head = path.first else { return value }
        guard var map = node.mapping else {
            throw ConfigError(file: source, reason: "'\(key)' goes through a value that is not a mapping of keys")
        }
        let child = map[head] ?? .mapping(Node.Mapping([]))
        map[head] = try setting(path.dropFirst(), to: value, in: child, key: key, source: source)
        return .mapping(map)
    }
}
