// Strict loading: missing, unused and mis-shaped tensors are errors that name them.
import Foundation
import ModelFormats
import Testing
@testable import LanguageModels

@Suite struct LoadingTests {
    func loadError(_ edit: @escaping (inout [SafetensorsTensor]) -> Void) throws -> String {
        let dir = try Fixtures.tinyCheckpoint(edit: edit)
        do { _ = try LlamaModel.load(path: dir); return "" } catch { return "\(error)" }
    }

    @Test func missingTensorIsNamed() throws {
        let msg = try loadError { $0.removeAll { $0.name == "model.layers.1.mlp.up_proj.weight" } }
        #expect(msg.contains("missing tensor model.layers.1.mlp.up_proj.weight"), "\(msg)")
    }

    @Test func unusedTensorIsNamed() throws {
        let msg = try loadError { $0.append(SafetensorsTensor(name: "model.layers.0.extra.weight", shape: [2], values: [1, 2])) }
        #expect(msg.contains("unused tensors: model.layers.0.extra.weight"), "\(msg)")
    }

    @Test func misShapedTensorIsNamed() throws {
        let msg = try loadError { ts in
            let i = ts.firstIndex { $0.name == "model.layers.0.self_attn.k_proj.weight" }!
            ts[i] = SafetensorsTensor(name: ts[i].name, shape: [8, 32], values: Array(repeating: 0, count: 256))
        }
        #expect(msg.contains("model.layers.0.self_attn.k_proj.weight has shape [8, 32], expected [16, 32]"), "\(msg)")
    }

    @Test func parameterNamesFollowTheCheckpoint() throws {
        let model = try LlamaModel.load(path: Fixtures.tinyCheckpoint(tied: true))
        let names = model.namedParameters().map(\.0)
        #expect(names.contains("model.layers.1.self_attn.q_proj.weight"))
        #expect(names.contains("model.embed_tokens.weight"))
        #expect(!names.contains("lm_head.weight"))
        #expect(names.count == 3 + 2 * 9 - 1)
    }

    @Test func smolLM2ConfigFromGGUF() throws {
        let c = try Fixtures.smolLM2.get().config
        #expect(c.layerCount == 30 && c.hiddenSize == 576 && c.headCount == 9 && c.kvHeadCount == 3)
        #expect(c.tiedEmbeddings && c.ropeTheta == 100_000 && c.vocabSize == 49152)
    }
}
