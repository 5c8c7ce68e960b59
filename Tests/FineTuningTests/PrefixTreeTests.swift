// Sharing a document's prefix, and the stems questions share after it, changes nothing but the cost in
// training: loss and adapter gradients equal those of every full sequence run on its own.
import Autograd
import Foundation
import LanguageModels
import NeuralNet
import Support
import Testing
import TestSupport
@testable import FineTuning

@Suite struct PrefixTreeTests {
    /// A random tiny Llama (config.json + model.safetensors in a temporary directory).
    func tinyModel() throws -> LlamaModel {
        let dir = try TinyLlama(vocabulary: 53, hidden: 24, intermediate: 40, heads: 4, kvHeads: 2, tiedEmbeddings: true, seed: 5)
            .writeTemporary()
        let model = try LlamaModel.load(path: dir)
        try model.addAdapter("facts", config: LoRAConfig(rank: 4, alpha: 8, dropout: 0, targets: ["q_proj", "v_proj"]), seed: 3)
        // Non-zero B everywhere, so that every adapter parameter gets a gradient.
        for (key, p) in model.adapterParameters("facts") where key.contains("lora_B") {
            p.value = Tensor.randn(p.shape, std: 0.2, seed: UInt64(key.count), requiresGrad: true)
        }
        model.activateAdapter("facts")
        return model
    }

    func lossAndGrads(_ model: LlamaModel, _ group: PrefixGroup) throws -> (Float, [String: [Float]]) {
        model.zeroGrad()
        let loss = try model.answerLoss(group)
        try loss.backward()
        var grads: [String: [Float]] = [:]
        for (k, p) in model.adapterParameters("facts") { grads[k] = p.grad?.scalars ?? [] }
        return (loss.item, grads)
    }

    @Test func sharedPrefixEqualsSeparateSequences() throws {
        let model = try tinyModel()
        let prefix = [3, 14, 15, 9, 26, 5, 35, 8]
        let conts = [Continuation(prompt: [1, 2], answer: [7, 7, 4]),
                     Continuation(prompt: [11], answer: [40, 41]),
                     Continuation(prompt: [20, 21, 22, 23], answer: [6])]
        let shared = try lossAndGrads(model, PrefixGroup(prefix: prefix, continuations: conts))
        let separate = try lossAndGrads(model, PrefixGroup(prefix: [], continuations: conts.map {
            Continuation(prompt: prefix + $0.prompt, answer: $0.answer)
        }))
        #expect(abs(shared.0 - separate.0) <= 1e-5 * max(1, abs(separate.0)), "loss \(shared.0) vs \(separate.0)")
        var worst: Float = 0
        for (k, g) in separate.1 {
            let s = shared.1[k]!
            #expect(!g.isEmpty && g.count == s.count, "\(k)")
            for (a, b) in zip(s, g) { worst = max(worst, abs(a - b) / max(1e-3, abs(b))) }
        }
        #expect(worst <= 1e-3, "worst relative gradient difference \(worst)")
        // The prefix's own keys/values carry gradient: v_proj's adapter of layer 0 sees only through them
        // for the first prefix tokens, and its gradient is non-zero.
        #expect(shared.1["model.layers.0.self_attn.v_proj.lora_A.facts.weight"]!.contains { $0 != 0 })
    }

    /// Activation checkpointing changes nothing but memory, also when the prefix's keys/values (outputs of
    /// checkpointed blocks) are the differentiable past of the questions, and with dropout drawing masks.
    @Test(arguments: [Float(0), 0.2])
    func checkpointedBlocksGiveTheSameLossAndGradients(dropout: Float) throws {
        func model(checkpointing: Bool) throws -> LlamaModel {
            let m = try tinyModel()
            if dropout > 0 {
                for (_, l) in m.linearLayers(matching: ["q_proj", "v_proj"]) {
                    let (a, b) = (l.adapters["facts"]!.a.value, l.adapters["facts"]!.b.value)
                    var g = SplitMix64(seed: 17)
                    try l.addAdapter("facts", rank: 4, scale: 2, dropout: dropout, generator: &g)
                    l.adapters["facts"]!.a.value = a
                    l.adapters["facts"]!.b.value = b
                }
                m.activateAdapter("facts")
            }
            m.checkpointBlocks = checkpointing
            return m
        }
        let group = PrefixGroup(prefix: [3, 14, 15, 9, 26, 5, 35, 8], continuations: [
            Continuation(prompt: [1, 2], answer: [7, 7, 4]), Continuation(prompt: [11], answer: [40, 41]),
            Continuation(prompt: [20, 21, 22, 23], answer: [6]),
        ])
        let plainModel = try model(checkpointing: false), checkpointedModel = try model(checkpointing: true)
        // Two steps each, so that the second also sees the dropout generators where the first left them.
        for round in 0..<2 {
            let plain = try lossAndGrads(plainModel, group), checkpointed = try lossAndGrads(checkpointedModel, group)
            #expect(abs(plain.0 - checkpointed.0) <= 1e-6 * max(1, abs(plain.0)), "round \(round): loss \(checkpointed.0) vs \(plain.0)")
            var worst: Float = 0
            for (k, g) in plain.1 {
                let c = checkpointed.1[k]!
                #expect(!g.isEmpty && g.count == c.count, "\(k)")
                for (a, b) in zip(c, g) { worst = max(worst, abs(a - b) / max(1e-3, abs(b))) }
            }
            #expect(worst <= 1e-5, "round \(round), dropout \(dropout): worst relative gradient difference \(worst)")
            let states = { (m: LlamaModel) in m.namedModules().compactMap { ($0.1 as? Dropout)?.generator.state } }
            #expect(states(plainModel) == states(checkpointedModel))
        }
        // Not vacuous: the prefix's keys/values carry gradient to layer 0's v_proj adapter.
        #expect(try lossAndGrads(checkpointedModel, group).1["model.layers.0.self_attn.v_proj.lora_A.facts.weight"]!.contains { $0 != 0 })
    }

    /// Prompts after a prefix (minimum stem 3): E shares nothing; A, B, F share six tokens; C, D five;
    /// G, H share A's six and then four more of their own (a nested stem).
    static let prompts: [[Int]] = [
        [1, 2, 3, 4, 5, 6, 10],                     // A
        [1, 2, 3, 4, 5, 6, 11, 12],                 // B
        [1, 2, 7, 8, 9, 13],                        // C
        [1, 2, 7, 8, 9, 14],                        // D
        [30, 31],                                   // E
        [1, 2, 3, 4, 5, 6, 20],                     // F
        [1, 2, 3, 4, 5, 6, 40, 41, 42, 43, 50],     // G
        [1, 2, 3, 4, 5, 6, 40, 41, 42, 43, 51, 52], // H
    ]

    @Test func stemsAreTheLongRunsQuestionsShare() {
        let tree = StemTree(prompts: Self.prompts, minimum: 3)
        #expect(tree.stems == [
            StemTree.Stem(tokens: [1, 2, 3, 4, 5, 6], parent: nil, depth: 0),
            StemTree.Stem(tokens: [40, 41, 42, 43], parent: 0, depth: 1),
            StemTree.Stem(tokens: [1, 2, 7, 8, 9], parent: nil, depth: 0),
        ])
        #expect(tree.leafStem == [0, 0, 2, 2, nil, 0, 1, 1])
        #expect(tree.leafPrompt == [[10], [11, 12], [13], [14], [30, 31], [20], [50], [51, 52]])
        #expect(tree.path(1) == [0, 1] && tree.depth == 2)
        // every prompt is its stems then its own rest
        for (i, p) in Self.prompts.enumerated() {
            #expect(tree.path(tree.leafStem[i]).flatMap { tree.stems[$0].tokens } + tree.leafPrompt[i] == p)
        }
        // a longer minimum keeps the six-token stem only; no minimum reachable: no stems
        #expect(StemTree(prompts: Self.prompts, minimum: 6).stems.map(\.tokens) == [[1, 2, 3, 4, 5, 6]])
        #expect(StemTree(prompts: Self.prompts, minimum: 100).stems.isEmpty)
        // What a step computes, padding included: without stems the prefix and 8 rows of the longest
        // prompt + answer (13); with them the prefix, level 0 (two stems, the longer of 6), level 1 (one
        // of 4) and 8 rows of the longest rest + answer (H: 2 + 1).
        let group = PrefixGroup(prefix: [9, 9], continuations: Self.prompts.map { Continuation(prompt: $0, answer: [7]) })
        #expect(group.computedTokenCount(stemMinimum: 100) == 2 + 8 * 13)
        #expect(group.computedTokenCount(stemMinimum: 3) == 2 + 2 * 6 + 1 * 4 + 8 * 3)
    }

    /// Nested stems of different lengths, rows without a stem, with and without a prefix, with checkpointed
    /// blocks: the same loss and adapter gradients as sharing the prefix only.
    @Test(arguments: [(true, false), (false, false), (true, true)])
    func stemsChangeNothingButTheCost(prefix: Bool, checkpointing: Bool) throws {
        let model = try tinyModel()
        model.checkpointBlocks = checkpointing
        let answers = [[7, 7, 4], [40], [41, 42], [6], [8, 9], [10, 3, 3], [12], [22, 23]]
        let group = PrefixGroup(prefix: prefix ? [3, 14, 15, 9, 26, 5, 35, 8] : [],
                                continuations: zip(Self.prompts, answers).map { Continuation(prompt: $0, answer: $1) })
        model.zeroGrad()
        let flatLoss = try model.answerLoss(group, stemMinimum: .max)
        try flatLoss.backward()
        var flat: [String: [Float]] = [:]
        for (k, p) in model.adapterParameters("facts") { flat[k] = p.grad?.scalars ?? [] }
        model.zeroGrad()
        let treeLoss = try model.answerLoss(group, stemMinimum: 3)
        try treeLoss.backward()
        #expect(abs(treeLoss.item - flatLoss.item) <= 1e-5 * max(1, abs(flatLoss.item)), "loss \(treeLoss.item) vs \(flatLoss.item)")
        var worst: Float = 0
        for (k, p) in model.adapterParameters("facts") {
            let g = p.grad?.scalars ?? [], f = flat[k]!
            #expect(!g.isEmpty && g.count == f.count, "\(k)")
            for (a, b) in zip(g, f) { worst = max(worst, abs(a - b) / max(1e-3, abs(b))) }
        }
        #expect(worst <= 1e-3, "worst relative gradient difference \(worst)")
    }

    @Test func lossCountsAnswerTokensOnly() throws {
        let model = try tinyModel()
        let base = PrefixGroup(prefix: [1, 2, 3], continuations: [Continuation(prompt: [4, 5], answer: [6, 7])])
        let l0 = try withNoGrad { try model.answerLoss(base).item }
        // Changing the answer changes the loss; the question itself is never a target: a one-token answer
        // has exactly one target row, the one a hand-written forward pass picks.
        var other = base
        other.continuations[0].answer = [6, 8]
        #expect(try withNoGrad { try model.answerLoss(other).item } != l0)
        let single = PrefixGroup(prefix: [1, 2, 3], continuations: [Continuation(prompt: [4, 5], answer: [6])])
        let manual = try withNoGrad { () throws -> Float in
            let h = try model.forward(ids: [1, 2, 3, 4, 5], batch: 1, length: 5).hidden
            let last = try slice(h, axis: 1, 4..<5).reshaped([1, 24])
            return try crossEntropy(logits: model.logits(last), targets: [6]).item
        }
        #expect(abs(try withNoGrad { try model.answerLoss(single).item } - manual) <= 1e-5)
        #expect(throws: TrainingDataError.self) { try model.answerLoss(PrefixGroup(prefix: [1], continuations: [Continuation(prompt: [], answer: [2])])) }
    }
}

/// The head's loss in row chunks equals the unchunked cross-entropy of the same rows: the loss, and the
/// gradients of the rows (through them, of the adapter) and of a trained head, under an incoming gradient
/// other than 1. Frozen tied and untied heads take each chunk's gradient in forward; a trained head
/// recomputes each chunk in backward.
@Suite struct HeadLossTests {
    enum Head: String, CaseIterable { case tiedFrozen, untiedFrozen, tiedTrained }

    func model(_ head: Head) throws -> LlamaModel {
        let dir = try TinyLlama(vocabulary: 53, hidden: 24, intermediate: 40, heads: 4, kvHeads: 2,
                                tiedEmbeddings: head != .untiedFrozen, seed: 11).writeTemporary()
        let model = try LlamaModel.load(path: dir)
        try model.addAdapter("a", config: LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: ["q_proj", "v_proj"]), seed: 3)
        for (key, p) in model.adapterParameters("a") where key.contains("lora_B") {
            p.value = Tensor.randn(p.shape, std: 0.2, seed: UInt64(key.count), requiresGrad: true)
        }
        model.activateAdapter("a")
        for (_, p) in model.namedParameters() where !model.adapterParameters("a").contains(where: { $0.1 === p }) { p.trainable = false }
        if head == .tiedTrained { model.body.embedTokens.weight.trainable = true }
        return model
    }

    /// Loss ×0.5 and the gradients of the adapter and of the embedding table (when trained).
    func lossAndGrads(_ model: LlamaModel, chunkRows: Int?) throws -> (Float, [String: [Float]]) {
        model.zeroGrad()
        let ids: [Int32] = (0..<14).map { Int32(($0 * 17 + 5) % 53) }
        let hidden = try model.forward(ids: ids, batch: 2, length: 7).hidden.reshaped([14, 24])
        let rows = try gather(hidden, axis: 0, indices: [0, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13])   // 11 rows: 4 chunks of 3 with a tail of 2
        let targets: [Int32] = (0..<11).map { Int32(($0 * 29 + 1) % 53) }
        let loss = try chunkRows.map { try model.headLoss(rows, targets: targets, chunkRows: $0) }
            ?? crossEntropy(logits: model.logits(rows), targets: targets)
        try (loss * 0.5).backward()
        var grads: [String: [Float]] = [:]
        for (k, p) in model.namedParameters() where p.trainable { grads[k] = p.grad?.scalars ?? [] }
        return (loss.item, grads)
    }

    @Test(arguments: Head.allCases)
    func chunkedEqualsUnchunked(_ head: Head) throws {
        let m = try model(head)
        #expect(m.headIsFrozen == (head != .tiedTrained))
        let whole = try lossAndGrads(m, chunkRows: nil), chunked = try lossAndGrads(m, chunkRows: 3)
        #expect(abs(whole.0 - chunked.0) <= 1e-5 * max(1, abs(whole.0)), "\(head): loss \(chunked.0) vs \(whole.0)")
        #expect(Set(whole.1.keys) == Set(chunked.1.keys) && whole.1.count == (head == .tiedTrained ? 9 : 8))
        var worst: Float = 0
        for (k, g) in whole.1 {
            let c = chunked.1[k]!
            #expect(!g.isEmpty && g.count == c.count && g.contains { $0 != 0 }, "\(head) \(k)")
            for (a, b) in zip(c, g) { worst = max(worst, abs(a - b) / max(1e-4, abs(b))) }
        }
        #expect(worst <= 1e-3, "\(head): worst relative gradient difference \(worst)")
    }

    @Test func badShapesAreRefused() throws {
        let m = try model(.tiedFrozen)
        #expect(throws: TrainingDataError.self) { try m.headLoss(Tensor.zeros([3, 24]), targets: [1, 2]) }
        #expect(throws: TrainingDataError.self) { try m.headLoss(Tensor.zeros([3, 7]), targets: [1, 2, 3]) }
    }
}
