// `autore-bench generate`: prefill throughput against what sgemm allows, decode latency, and the cost of
// many continuations of one shared prefix relative to one.
import ArgumentParser
import Autograd
import CBLAS
import Experiments
import Foundation
import LanguageModels
import Quantization
import RHF

struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Prefill tokens/s at 512 tokens, decode ms/token, 16 and 64 shared-prefix continuations vs one, and the head of constrained steps.")

    @Option(help: "A .gguf file, a checkpoint directory, or a cached model: smollm2 (the default) or gemma3.") var model: String?
    @Option(help: "How the projections are held: native (the GGUF's own blocks, read by the fused kernels), nf4, or float32.")
    var weights: WeightChoice = .native
    @Option(help: "Timed repeats per measurement (the median is reported).")
    var repeats = 3

    enum WeightChoice: String, ExpressibleByArgument, CaseIterable {
        case native, nf4, float32
        var quantization: WeightQuantization {
            switch self {
            case .native: .native
            case .nf4: .nf4(doubleQuantization: true)
            case .float32: .none
            }
        }
    }
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    struct Report: Encodable {
        var threads: Int
        var weights: String
        var kernels: String
        var flopsPerTokenPrefill512: Double
        var sgemmGFLOPs: Double
        var prefillTokensPerSecond: Double
        var prefillTokensPerSecondAllowedBySgemm: Double
        var prefillFractionOfSgemm: Double
        var decodeMillisecondsPerToken: Double
        /// Milliseconds per decoded token by part (StepProfile), "other" the rest of the step.
        var decodeBreakdownMilliseconds: [String: Double]
        var sharedPrefixOneSeconds: Double
        var sharedPrefixSixteenSeconds: Double
        var sharedPrefixRatio: Double
        /// 64 continuations of the same prefix (20 new tokens each), and the tokens written per second by 1, 16 and 64.
        var sharedPrefixSixtyFourSeconds: Double
        var sharedPrefixTokensPerSecond: [String: Double]
        /// The same 16 continuations, each constrained to its own 2,000 tokens, with the head read at the
        /// allowed tokens only (when the head is in blocks) and with the whole head.
        var constrainedAllowedOnlySeconds: Double
        var constrainedWholeHeadSeconds: Double
    }

    func run() throws {
        let m = try LlamaModel.load(path: try ModelLocation.resolve(model), quantization: weights.quantization)
        let c = m.config
        let clock = Stopwatch(repeats: repeats, warmups: 1)

        // FLOPs of one token of a 512-token prefill: every projection (2·in·out) and causal attention
        // (q·kᵀ and p·v over on average (T+1)/2 keys, 2·2·D per key per head); the LM head runs on the
        // last position only, as in extraction.
        let t = 512
        let proj = Double(c.hiddenSize * c.headCount * c.headDim * 2 + c.hiddenSize * c.kvHeadCount * c.headDim * 2
                          + 3 * c.hiddenSize * c.intermediateSize)
        let attention = 4.0 * Double(c.headCount * c.headDim) * Double(t + 1) / 2
        let perToken = Double(c.layerCount) * (2 * proj + attention) + 2 * Double(c.hiddenSize * c.vocabSize) / Double(t)

        // The sgemm rate of this machine, on the model's own largest projection shape.
        let k = c.hiddenSize, n = c.intermediateSize
        let a = Tensor.randn([t, k], seed: 1), b = Tensor.randn([n, k], seed: 2), out = Tensor.zeros([t, n])
        let sgemmSeconds = clock.time {
            Threads.withThreadedOpenBLAS {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(n), Int32(k), 1, a.data, Int32(k),
                            b.data, Int32(k), 0, out.data, Int32(n))
            }
        }
        let sgemm = 2.0 * Double(t * n * k) / sgemmSeconds / 1e9

        let ids = (0..<t).map { Int32(($0 * 7919 + 13) % c.vocabSize) }
        let prefill = try clock.time {
            try withNoGrad {
                let h = try m.forward(ids: ids, batch: 1, length: t).hidden
                _ = try m.logits(slice(h, axis: 1, (t - 1)..<t))
            }
        }
        let prefillRate = Double(t) / prefill
        let allowed = sgemm * 1e9 / perToken

        // Decode: 64 greedy tokens after a 16-token prompt, minus the prompt's own cost.
        let short = Array(ids.prefix(16)).map(Int.init)
        let opts64 = GenerationOptions(maxNewTokens: 65)
        let opts1 = GenerationOptions(maxNewTokens: 1)
        let (long, first) = try clock.timePair({ _ = try m.generate(prompt: short, options: opts64) },
                                               { _ = try m.generate(prompt: short, options: opts1) })
        let decode = (long - first) / 64 * 1000
        // Where a decoded token's time goes: the same two runs measured by part, their difference per token.
        // "other" is the rest of those same runs' time, so that the parts add up to their own total.
        StepProfile.start()
        let profiledLong = try Stopwatch.seconds { _ = try m.generate(prompt: short, options: opts64) }
        let partsLong = StepProfile.stop()
        StepProfile.start()
        let profiledFirst = try Stopwatch.seconds { _ = try m.generate(prompt: short, options: opts1) }
        let partsFirst = StepProfile.stop()
        var breakdown: [String: Double] = [:]
        for part in StepProfile.Part.allCases {
            breakdown[part.description] = max(0, (partsLong[part]! - partsFirst[part]!) / 64 * 1000)
        }
        let profiledDecode = (profiledLong - profiledFirst) / 64 * 1000
        breakdown["other"] = max(0, profiledDecode - breakdown.values.reduce(0, +))

        // 16 continuations of one 350-token prefix, 20 new tokens each, vs one continuation.
        let prefix = (0..<350).map { ($0 * 104729 + 7) % c.vocabSize }
        let questions64 = (0..<64).map { q in (0..<(6 + q % 5)).map { ($0 * 31 + q * 977 + 5) % c.vocabSize } }
        let questions = Array(questions64.prefix(16))
        let opts20 = GenerationOptions(maxNewTokens: 20)
        let (one, sixteen) = try clock.timePair(
            { _ = try m.generate(prompts: [questions[0]], sharedPrefix: prefix, options: opts20) },
            { _ = try m.generate(prompts: questions, sharedPrefix: prefix, options: opts20) })
        // 64 at once: past 16 rows the products are decoded tiles and sgemm instead of the fused kernels.
        let sixtyFour = try clock.time { _ = try m.generate(prompts: questions64, sharedPrefix: prefix, options: opts20) }

        // The same, constrained as extraction constrains names: each continuation may write only its own
        // 2,000 tokens (a document's names and their pieces), the head read at those tokens only against the
        // whole head. The tokens written are the same either way (NativeParityTests).
        struct Allowed: TokenConstraint {
            let ids: [Int]
            mutating func allowedTokens() -> [Int]? { ids }
            mutating func advance(_ token: Int) {}
        }
        let rules = (0..<16).map { q in Allowed(ids: Array(Set((0..<2_000).map { ($0 * 7919 + q * 104_729 + 11) % c.vocabSize })).sorted()) }
        let group = [PromptGroup(prefix: prefix, prompts: questions)]
        let constrained = { (allowedOnly: Bool) in
            m.headAtAllowedTokensOnly = allowedOnly
            _ = try m.generate(groups: group, options: opts20, constraints: rules)
        }
        let (allowedOnly, wholeHead) = try clock.timePair({ try constrained(true) }, { try constrained(false) })
        m.headAtAllowedTokensOnly = true

        let r = Report(threads: Threads.count, weights: weights.rawValue, kernels: KernelInstructionSet.current.rawValue,
                       flopsPerTokenPrefill512: perToken, sgemmGFLOPs: sgemm,
                       prefillTokensPerSecond: prefillRate, prefillTokensPerSecondAllowedBySgemm: allowed,
                       prefillFractionOfSgemm: prefillRate / allowed, decodeMillisecondsPerToken: decode,
                       decodeBreakdownMilliseconds: breakdown,
                       sharedPrefixOneSeconds: one, sharedPrefixSixteenSeconds: sixteen, sharedPrefixRatio: sixteen / one,
                       sharedPrefixSixtyFourSeconds: sixtyFour,
                       sharedPrefixTokensPerSecond: ["1": 20 / one, "16": 16 * 20 / sixteen, "64": 64 * 20 / sixtyFour],
                       constrainedAllowedOnlySeconds: allowedOnly, constrainedWholeHeadSeconds: wholeHead)
        if json { try printJSON(r); return }
        print("model: \(c.architecture), \(c.layerCount) layers, hidden \(c.hiddenSize), threads \(r.threads), weights \(r.weights), kernels \(r.kernels)")
        print(String(format: "FLOPs per prefill token (T=512): %.1f M   sgemm on (512×%d)·(%d×%d)ᵀ: %.1f GFLOP/s", perToken / 1e6, k, n, k, sgemm))
        print(String(format: "prefill 512 tokens: %.0f tokens/s = %.0f%% of the %.0f tokens/s sgemm allows", prefillRate, 100 * r.prefillFractionOfSgemm, allowed))
        print(String(format: "decode: %.2f ms/token; by part (one more run of each, measured):", decode))
        let profiledTotal = breakdown.values.reduce(0, +)
        for name in StepProfile.Part.allCases.map(\.description) + ["other"] {
            print("  " + name.padding(toLength: 26, withPad: " ", startingAt: 0)
                  + String(format: " %6.2f ms  %5.1f%%", breakdown[name]!, 100 * breakdown[name]! / profiledTotal))
        }
        print(String(format: "shared prefix (350 tokens), 20 new tokens: 1 continuation %.2f s, 16 continuations %.2f s, ratio %.2f×", one, sixteen, r.sharedPrefixRatio))
        print(String(format: "  64 continuations %.2f s; tokens written per second (the prefix's prefill included): 1 → %.0f, 16 → %.0f, 64 → %.0f", sixtyFour,
                     20 / one, 16 * 20 / sixteen, 64 * 20 / sixtyFour))
        print(String(format: "the 16 constrained to 2,000 tokens each: head at the allowed tokens %.2f s, whole head %.2f s, ratio %.2f×",
                     allowedOnly, wholeHead, wholeHead / allowedOnly) + (m.lmHead == nil ? " (a Float32 head is always read whole)" : ""))
    }
}
