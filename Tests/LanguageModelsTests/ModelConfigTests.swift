// ModelConfig from GGUF metadata (SmolLM2) and from HF config.json (llama, mistral, qwen2), and refusals.
import Foundation
import Testing
import ModelFormats
@testable import LanguageModels

@Suite struct ModelConfigTests {
    static let modelPath: String = {
        let home = ProcessInfo.processInfo.environment["AUTORE_HOME"] ?? (NSHomeDirectory() + "/.cache/autore")
        return home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }()

    @Test(.enabled(if: FileManager.default.fileExists(atPath: modelPath), "SmolLM2 GGUF not found"))
    func smolLM2FromGGUF() throws {
        let c = try ModelConfig(gguf: GGUFFile(path: Self.modelPath))
        #expect(c.architecture == "llama" && c.vocabSize == 49152 && c.hiddenSize == 576 && c.intermediateSize == 1536)
        #expect(c.layerCount == 30 && c.headCount == 9 && c.kvHeadCount == 3 && c.headDim == 64)
        #expect(c.ropeTheta == 100_000 && abs(c.rmsNormEps - 1e-5) < 1e-12 && c.maxPositions == 8192)
        #expect(c.tiedEmbeddings && c.bosTokenId == 1 && c.eosTokenId == 2 && c.ropeScaling == nil && !c.attentionBias)
    }

    func hf(_ json: String) throws -> ModelConfig { try ModelConfig(hf: HFConfig.decode(Data(json.utf8))) }

    @Test func fromHFConfigs() throws {
        let mistral = try hf(#"{"model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "max_position_embeddings": 32768, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": false}"#)
        #expect(mistral.slidingWindow == 4096 && mistral.headDim == 128 && !mistral.tiedEmbeddings && mistral.kvHeadCount == 8)
        let qwen = try hf(#"{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "use_sliding_window": false, "tie_word_embeddings": true, "max_position_embeddings": 32768}"#)
        #expect(qwen.attentionBias && qwen.tiedEmbeddings && qwen.slidingWindow == nil && qwen.headDim == 64)
        let llama = try hf(#"{"model_type": "llama", "vocab_size": 32000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "rope_scaling": {"type": "linear", "factor": 2.0}}"#)
        #expect(llama.ropeScaling == .linear(factor: 2) && llama.kvHeadCount == 4)
        let llama3 = try hf(#"{"model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}}"#)
        #expect(llama3.ropeScaling == .llama3(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192))
    }

    @Test func refusals() {
        do { _ = try hf(#"{"model_type": "gpt_neox", "vocab_size": 1, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1}"#); Issue.record("accepted") }
        catch { #expect("\(error)".contains("gpt_neox")) }
        #expect(throws: ModelConfigError.self) { _ = try hf(#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 3}"#) }
        #expect(throws: ModelConfigError.self) { _ = try hf(#"{"model_type": "llama", "hidden_size": 64}"#) }
    }
}
