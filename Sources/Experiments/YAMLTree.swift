// YAMLTree.swift: a config file's YAML as plain Swift values ([String: Any], [Any], scalars), refusing
// with one error the two shapes that Yams' own `load` cannot take:
//  - a mapping key that is not a scalar (`? [a]: b`, `{[a]: 1}`): Yams' constructor force-unwraps the key
//    as a String and traps;
//  - aliases that expand past `maxNodes` nodes (`a: &a [*b, *b, …]`, nested): the conversion walks every
//    expansion, so a few hundred bytes can ask for billions of values.
// Both were found by the `config` fuzz target (Docs/reliability.md, finding 7).

import RHF
import Yams

enum YAMLTree {
    /// The most nodes, aliases expanded, one config may hold. The largest committed config has under 200.
    static let maxNodes = 100_000

    /// The YAML `text` of `file` as `Yams.load` would return it, or a `ConfigError` naming the file.
    static func load(_ text: String, file: String) throws -> Any? {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigError(file: file, reason: "not valid YAML: \(error)")
        }
        guard let root else { return nil }
        try check(root, file: file)
        return root.any
    }

    /// Refuses a non-scalar mapping key anywhere in `root`, and a tree of more than `maxNodes` nodes.
    static func check(_ root: Node, file: String) throws {
        var visited = 0
        var pending = [root]
        while let node = pending.popLast() {
            visited += 1
            guard visited <= maxNodes else {
                throw ConfigError(file: file, reason: "more than \(maxNodes) YAML values once its aliases are expanded; a config is far smaller")
            }
            switch node {
            case .scalar, .alias: continue
            case .sequence(let s): pending.append(contentsOf: s)
            case .mapping(let m):
                for (key, value) in m {
                    guard key.scalar != nil else {
                        throw ConfigError(file: file, reason: "a mapping key must be plain text, not a list or mapping (line \((key.mark?.line).map(String.init) ?? "?"))")
                    }
                    pending.append(value)
                }
            }
        }
    }
}
