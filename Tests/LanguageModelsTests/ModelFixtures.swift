// Shared fixtures: the real SmolLM2 checkpoint (fetched by Scripts/setup) loaded once, and tiny random
// Llama checkpoints written as safetensors for fast structural tests.
import Autograd
import FineTuning
import Foundation
import ModelFormats
import Testing
import TestSupport
@testable import LanguageModels

enum Fixtures {
    static let home = ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
    static let smolLM2Path = home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// SmolLM2-135M-Instruct with dense Float32 weights (the GGUF's Q4_1/Q8_0 blocks decoded).
    static let smolLM2: Result<LlamaModel, Error> = Result { try LlamaModel.load(path: smolLM2Path) }

    struct Golden: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let top5_ids: [[Int]]
            let top5_logits: [[Float]]
            let greedy_ids: [Int]
            let greedy_margins: [Float]
        }
        let cases: [Case]
    }
    static func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: directory.appendingPathComponent("smollm2_goldens.json")))
    }

    /// Writes a random tiny Llama checkpoint (config.json + model.safetensors) and returns its directory.
    /// `edit` may drop, add or reshape tensors to build broken checkpoints.
    static func tinyCheckpoint(slidingWindow: Int? = nil, tied: Bool = false, seed: UInt64 = 1,
                               edit: (inout [SafetensorsTensor]) -> Void = { _ in }) throws -> String {
        try TinyLlama(tiedEmbeddings: tied, slidingWindow: slidingWindow, seed: seed).writeTemporary(edit: edit)
    }
}

/// Largest |a − b| over two equally long arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Takes one step of `trainer` per reference loss (torch's, before each update) and expects each loss within
/// `tolerance` relative; returns the largest relative difference.
func expectLosses(of trainer: Trainer, match reference: [Float], within tolerance: Float) throws -> Float {
    var worst: Float = 0
    for (i, ref) in reference.enumerated() {
        let loss = try trainer.step().loss
        let rel = abs(loss - ref) / abs(ref)
        worst = max(worst, rel)
        #expect(rel <= tolerance, "step \(i + 1): loss \(loss), torch \(ref)")
    }
    #expect(reference.last! < reference.first! - 0.5)     // the run trains: not a flat trajectory
    return worst
}

/// Largest |logit − reference| over the reference's top-5 ids at every position; `logits` is (T, V).
func maxTop5Difference(_ logits: Tensor, ids: [[Int]], values: [[Float]]) -> Float {
    let v = logits.shape.last!
    var worst: Float = 0
    for (t, (ids, ref)) in zip(ids, values).enumerated() {
        worst = max(worst, maxAbsDiff(ids.map { logits.data[t * v + $0] }, ref))
    }
    return worst
}
