// Rotation schedules from HF rope_scaling (linear, llama3) and from GGUF frequency factors.
import Autograd
import Foundation
import Testing
@testable import LanguageModels

@Suite struct RopeScalingTests {
    func config(_ s: RopeScaling?) throws -> ModelConfig {
        try ModelConfig(architecture: "llama", vocabSize: 10, hiddenSize: 128 * 4, intermediateSize: 8, layerCount: 1,
                        headCount: 4, headDim: 128, ropeTheta: 500_000, ropeScaling: s)
    }

    @Test func llama3KeepsHighFrequenciesAndDividesLowOnes() throws {
        // Llama-3.1's published settings: factor 8, low 1, high 4, original context 8192.
        guard case .inverseFrequencies(let f) = try config(.llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
                                                                   originalMaxPositions: 8192)).ropeRotation else {
            Issue.record("llama3 must give explicit frequencies"); return
        }
        let base = (0..<64).map { Foundation.pow(500_000.0, -Double(2 * $0) / 128) }
        #expect(f.count == 64)
        #expect(abs(Double(f[0]) - base[0]) < 1e-9)                       // wavelength 2π < 8192/4: kept
        #expect(abs(Double(f[63]) - base[63] / 8) < 1e-12 * 1e3)          // wavelength ≫ 8192: divided by 8
        for i in 0..<64 {   // every value between the divided and the original one
            #expect(Double(f[i]) <= base[i] * (1 + 1e-6) && Double(f[i]) >= base[i] / 8 * (1 - 1e-6))
        }
    }

    @Test func ggufFrequencyFactorsMatchTheEquivalentLlama3Schedule() throws {
        guard case .inverseFrequencies(let l3) = try config(.llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
                                                                    originalMaxPositions: 8192)).ropeRotation else { return }
        let base = (0..<64).map { Foundation.pow(500_000.0, -Double(2 * $0) / 128) }
        let factors = zip(base, l3).map { $0 / Double($1) }      // what llama.cpp stores as rope_freqs
        guard case .inverseFrequencies(let g) = try config(.frequencyFactors(factors)).ropeRotation else {
            Issue.record("frequency factors must give explicit frequencies"); return
        }
        for (a, b) in zip(g, l3) { #expect(abs(a - b) <= 1e-6 * abs(b)) }
        #expect(try config(.linear(factor: 2)).ropeRotation == .linear(factor: 2))
        #expect(try config(nil).ropeRotation == RoPEScaling.none)
    }
}
