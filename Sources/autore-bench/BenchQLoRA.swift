// `autore-bench qlora`: QLoRA training steps over a frozen 4-bit base (SmolLM2-135M and Gemma 3 270M, over
// NF4 or over the GGUF's own blocks, and a Mistral-7B-shaped model of random weights): tokens/s, achieved
// GFLOP/s against raw sgemm, and peak resident memory per configuration, each configuration in a child
// process of its own. Not a convergence test: the data are fixed ids.
import ArgumentParser
import Autograd
import CBLAS
import Experiments
import FineTuning
import Foundation
import LanguageModels
import ModelFormats
import NeuralNet
import RHF
import Support

/// One measured configuration: a model, the adapted projections, a batch of sequences.
struct QLoRABenchCase: Codable, Equatable {
    enum Model: String, Codable, CaseIterable { case smolLM2 = "smollm2", gemma3 = "gemma3", mistral7B = "mistral-7b" }
    /// How the frozen base is held: NF4 with double quantization (QLoRA's base; for a GGUF, its blocks
    /// dequantized and quantized again) or the GGUF's own blocks (`quantization: native`).
    enum Base: String, Codable { case nf4, native }
    var model: Model
    var targets: [String]
    var batch: Int
    var length: Int
    var checkpointing: Bool
    var base: Base
    /// Whether the base's 4-bit weights are decoded once and kept in Float32 (`keepDequantizedCopies`, as
    /// training does when the copy fits in 2 GiB) instead of decoded tile by tile in every product.
    var copy = false

    /// `model:targets:BxT[:native][:copy][:ckpt]`, e.g. `gemma3:q+v:1x512:native:copy`; NF4 is the default base.
    var name: String {
        let t = targets == LoRAConfig.allProjections ? "all7" : targets.map { $0.replacingOccurrences(of: "_proj", with: "") }.joined(separator: "+")
        return "\(model.rawValue):\(t):\(batch)x\(length)\(base == .native ? ":native" : "")\(copy ? ":copy" : "")\(checkpointing ? ":ckpt" : "")"
    }

    init(model: Model, targets: [String], batch: Int, length: Int = 512, checkpointing: Bool = false, base: Base = .nf4, copy: Bool = false) {
        self.model = model; self.targets = targets; self.batch = batch; self.length = length
        self.checkpointing = checkpointing; self.base = base; self.copy = copy
    }

    /// Parses `name` back (the child process's argument).
    init(parsing s: String) throws {
        let p = s.split(separator: ":").map(String.init)
        guard p.count >= 3, let m = Model(rawValue: p[0]) else { throw ValidationError("bad bench case '\(s)'") }
        let bt = p[2].split(separator: "x").compactMap { Int($0) }
        guard bt.count == 2 else { throw ValidationError("bad batch '\(p[2])' in '\(s)' (write 4x512)") }
        let targets = p[1] == "all7" ? LoRAConfig.allProjections : p[1].split(separator: "+").map { $0 + "_proj" }
        let flags = p.dropFirst(3)
        guard flags.allSatisfy({ $0 == "ckpt" || $0 == "native" || $0 == "copy" }) else {
            throw ValidationError("bad bench case '\(s)': after the batch come only :native, :copy and :ckpt")
        }
        guard m != .mistral7B || !flags.contains("native") else {
            throw ValidationError("bad bench case '\(s)': the Mistral-7B-shaped model has no GGUF blocks (it is NF4 only)")
        }
        self.init(model: m, targets: targets, batch: bt[0], length: bt[1], checkpointing: flags.contains("ckpt"),
                  base: flags.contains("native") ? .native : .nf4, copy: flags.contains("copy"))
    }

    static let all: [QLoRABenchCase] = [
        .init(model: .smolLM2, targets: ["q_proj", "v_proj"], batch: 1),
        .init(model: .smolLM2, targets: ["q_proj", "v_proj"], batch: 4),
        .init(model: .smolLM2, targets: LoRAConfig.allProjections, batch: 1),
        .init(model: .smolLM2, targets: LoRAConfig.allProjections, batch: 4),
        .init(model: .smolLM2, targets: ["q_proj", "v_proj"], batch: 1, base: .native),
        .init(model: .smolLM2, targets: ["q_proj", "v_proj"], batch: 1, copy: true),
        .init(model: .gemma3, targets: ["q_proj", "v_proj"], batch: 1),
        .init(model: .gemma3, targets: ["q_proj", "v_proj"], batch: 1, base: .native),
        .init(model: .gemma3, targets: ["q_proj", "v_proj"], batch: 1, base: .native, copy: true),
        .init(model: .mistral7B, targets: ["q_proj", "v_proj"], batch: 1, checkpointing: true),
    ]
}

/// What one child process measured.
struct QLoRABenchResult: Codable {
    var name: String
    var tokensPerStep: Int
    var stepSeconds: Double
    var tokensPerSecond: Double
    var stepGFLOP: Double
    var flops: [String: Double]
    var achievedGFLOPs: Double
    var sgemmGFLOPs: Double
    var ratioToSgemm: Double
    var peakResidentMiB: Double
    /// Peak RSS once the model was built (before adapters and training).
    var builtResidentMiB: Double
    var buildSeconds: Double
    var loss: Float
    var timedSteps: Int
}

/// The arithmetic of one training step, in FLOPs, by kind. Elementwise work (norms, RoPE, SiLU, softmax
/// of the loss, AdamW) is not counted: it moves memory rather than multiplying.
///
///     projections   forward of every frozen projection:             2·N·in·out
///     input grads   dx = dy·W through the frozen base wherever x needs a gradient (all but layer 0's q/k/v)
///     lora          forward 2·N·r·(in+out); backward dB, d(xAᵀ), dA 2·N·r·(2·out+in), dx 2·N·r·in where needed
///     attention     causal, FlashAttention convention: forward 4·D·Hq·T(T+1)/2 per sequence, backward 2.5×
///     logits        lm_head on the R rows the loss reads, forward and input gradient: 2·2·R·C·V
struct StepFLOPs {
    var parts: [String: Double] = [:]
    var total: Double { parts.values.reduce(0, +) }

    init(config c: ModelConfig, targets: [String], rank: Int, batch: Int, length: Int, logitRows: Int) {
        let n = Double(batch * length)
        let projections: [(String, Int, Int)] = [
            ("q_proj", c.hiddenSize, c.headCount * c.headDim), ("k_proj", c.hiddenSize, c.kvHeadCount * c.headDim),
            ("v_proj", c.hiddenSize, c.kvHeadCount * c.headDim), ("o_proj", c.headCount * c.headDim, c.hiddenSize),
            ("gate_proj", c.hiddenSize, c.intermediateSize), ("up_proj", c.hiddenSize, c.intermediateSize),
            ("down_proj", c.intermediateSize, c.hiddenSize),
        ]
        var fwd = 0.0, dx = 0.0, lora = 0.0
        let r = Double(rank)
        for layer in 0..<c.layerCount {
            for (name, i, o) in projections {
                let (i, o) = (Double(i), Double(o))
                // Layer 0's q/k/v read the normed embeddings, which need no gradient.
                let needsDx = layer > 0 || !["q_proj", "k_proj", "v_proj"].contains(name)
                fwd += 2 * n * i * o
                if needsDx { dx += 2 * n * i * o }
                if targets.contains(name) {
                    lora += 2 * n * r * (i + o) + 2 * n * r * (2 * o + i) + (needsDx ? 2 * n * r * i : 0)
                }
            }
        }
        let t = Double(length)
        let attention = Double(c.layerCount) * Double(batch) * 4 * Double(c.headDim * c.headCount) * t * (t + 1) / 2 * 3.5
        let logits = 2 * 2 * Double(logitRows) * Double(c.hiddenSize) * Double(c.vocabSize)
        parts = ["projections": fwd, "input_grads": dx, "lora": lora, "attention": attention, "logits": logits]
    }
}

/// A Mistral-7B-shaped checkpoint of random weights, made tensor by tensor as the loader asks: uniform
/// values of standard deviation 0.02 (norm weights 1), seeded by the tensor's name.
final class RandomLlamaWeights: WeightSource {
    let config: ModelConfig
    let shapes: [String: [Int]]
    var onTensor: (String) -> Void = { _ in }
    var path: String { "random \(config.architecture) weights" }

    init(config c: ModelConfig) {
        config = c
        var s: [String: [Int]] = ["model.embed_tokens.weight": [c.vocabSize, c.hiddenSize], "model.norm.weight": [c.hiddenSize]]
        if !c.tiedEmbeddings { s["lm_head.weight"] = [c.vocabSize, c.hiddenSize] }
        let q = c.headCount * c.headDim, kv = c.kvHeadCount * c.headDim
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)."
            s[p + "input_layernorm.weight"] = [c.hiddenSize]; s[p + "post_attention_layernorm.weight"] = [c.hiddenSize]
            s[p + "self_attn.q_proj.weight"] = [q, c.hiddenSize]; s[p + "self_attn.k_proj.weight"] = [kv, c.hiddenSize]
            s[p + "self_attn.v_proj.weight"] = [kv, c.hiddenSize]; s[p + "self_attn.o_proj.weight"] = [c.hiddenSize, q]
            s[p + "mlp.gate_proj.weight"] = [c.intermediateSize, c.hiddenSize]; s[p + "mlp.up_proj.weight"] = [c.intermediateSize, c.hiddenSize]
            s[p + "mlp.down_proj.weight"] = [c.hiddenSize, c.intermediateSize]
        }
        shapes = s
    }

    var names: [String] { shapes.keys.sorted() }
    func shape(_ name: String) -> [Int]? { shapes[name] }
    func floats(_ name: String) throws -> [Float] {
        guard let s = shapes[name] else { throw ValidationError("\(path): no tensor for \(name)") }
        onTensor(name)
        let n = s.reduce(1, *)
        if name.hasSuffix("norm.weight") { return [Float](repeating: 1, count: n) }
        // FNV-1a of the name seeds the tensor; chunks of 64K values get generators of their own (in parallel).
        let seed = name.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
        let bound: Float = 0.02 * Float(3).squareRoot(), chunk = 1 << 16
        return [Float](unsafeUninitializedCapacity: n) { buf, count in
            let p = buf.baseAddress!
            parallelTasks((n + chunk - 1) / chunk) { t, _ in
                var g = SplitMix64(seed: seed &+ UInt64(t) &* 0x9E37_79B9_7F4A_7C15)
                for i in (t * chunk)..<min(n, (t + 1) * chunk) { p[i] = (2 * g.nextFloat() - 1) * bound }
            }
            count = n
        }
    }
}

struct BenchQLoRA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qlora",
        abstract: "QLoRA training steps over a 4-bit base: tokens/s, GFLOP/s as a fraction of sgemm, peak memory.",
        discussion: """
            SmolLM2-135M with r=16 adapters on q_proj+v_proj and on all 7 projections at batch 1×512 and 4×512 \
            over NF4, and on q_proj+v_proj at 1×512 over the GGUF's own blocks; Gemma 3 270M on q_proj+v_proj \
            at 1×512 over NF4 and over its own blocks (its 262,144-token head reads all 511 answer rows, in \
            chunks); then a Mistral-7B-shaped model of random NF4 weights (r=16 on q_proj+v_proj, 1×512, \
            activation checkpointing per block). Each configuration runs in a child process, so that its peak \
            resident memory is its own. `--models gemma3` (a comma-separated list) runs one model's cases only.
            """)

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false
    @Option(help: "Timed training steps per SmolLM2 or Gemma 3 configuration (the median is reported).")
    var repeats = 3
    @Flag(name: .customLong("skip-7b"), help: "Leave out the Mistral-7B-shaped model (minutes, and several GB).")
    var skip7B = false
    @Option(help: "Only these models' cases, comma-separated: smollm2, gemma3, mistral-7b (default: all).")
    var models: String?
    @Option(help: ArgumentHelp("Run one configuration in this process and print its result as JSON.", visibility: .hidden))
    var child: String?

    func run() throws {
        if let child {
            let r = try measure(try QLoRABenchCase(parsing: child))
            try printJSON(r)
            return
        }
        var chosen = Set(QLoRABenchCase.Model.allCases)
        if let models {
            chosen = Set(try models.split(separator: ",").map { name in
                guard let m = QLoRABenchCase.Model(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--models: unknown model '\(name)' (write smollm2, gemma3 or mistral-7b)")
                }
                return m
            })
        }
        let cases = QLoRABenchCase.all.filter { chosen.contains($0.model) && (!skip7B || $0.model != .mistral7B) }
        var results: [QLoRABenchResult] = []
        for (i, c) in cases.enumerated() {
            progress("[\(i + 1)/\(cases.count)] \(c.name)")
            // this same executable, `qlora --child <case>`, so that the case's peak memory is its own
            results.append(try runBenchChild(["qlora", "--child", c.name, "--repeats", String(repeats)], what: "bench case \(c.name)"))
        }
        if json {
            try printJSON(Report(threads: Threads.count, results: results))
            return
        }
        print("threads \(Threads.count) · LoRA r=16, alpha 16, dropout 0.05 · AdamW · loss on all 511 next tokens of each 512-token sequence")
        print("each configuration in a child process of its own; sgemm = raw cblas_sgemm over the model's 7 projection")
        print("shapes at the same N, timed alternately with the steps; a step's FLOPs: projections forward, input gradients")
        print("through the frozen base, LoRA forward/backward, causal attention (backward 2.5× forward), logits (StepFLOPs)")
        print("")
        print("configuration                 tokens/s    step s  GFLOP/step  GFLOP/s  sgemm GFLOP/s  ratio  built RSS   peak RSS")
        for r in results {
            print(r.name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(
                format: " %9.1f %9.2f %11.1f %8.1f %14.1f %6.2f %6.0f MiB %6.0f MiB",
                r.tokensPerSecond, r.stepSeconds, r.stepGFLOP, r.achievedGFLOPs, r.sgemmGFLOPs, r.ratioToSgemm,
                r.builtResidentMiB, r.peakResidentMiB))
        }
        print("")
        print("built RSS: peak once the 4-bit model exists; peak RSS: the whole run. Targets: ratio ≥ 0.40; the 7B step within 12 GiB.")
    }

    struct Report: Encodable {
        var threads: Int
        var results: [QLoRABenchResult]
    }


    /// Builds the model of `c`, trains `repeats` timed steps (one for the 7B model) after a warm-up, each
    /// next to a raw-sgemm pass over the model's projection shapes, and reads the process's peak RSS.
    func measure(_ c: QLoRABenchCase) throws -> QLoRABenchResult {
        let start = Date()
        let model: LlamaModel
        switch c.model {
        case .smolLM2, .gemma3:
            model = try LlamaModel.load(path: try ModelLocation.resolve(c.model.rawValue),
                                        quantization: c.base == .native ? .native : .nf4(doubleQuantization: true))
        case .mistral7B:
            let config = try ModelConfig(architecture: "mistral", vocabSize: 32000, hiddenSize: 4096, intermediateSize: 14336,
                                         layerCount: 32, headCount: 32, kvHeadCount: 8, headDim: 128, rmsNormEps: 1e-5,
                                         ropeTheta: 1_000_000, maxPositions: 32768)
            let weights = RandomLlamaWeights(config: config)
            var made = 0
            weights.onTensor = { name in
                guard name.hasSuffix("input_layernorm.weight") else { return }
                made += 1
                progress("  generating and quantizing layer \(made)/\(config.layerCount) · \(String(format: "%.0f", Date().timeIntervalSince(start))) s · RSS \(String(format: "%.0f", peakResidentMiB())) MiB peak")
            }
            model = try LlamaModel.load(config: config, weights: weights, linear: LlamaModel.nf4Linear(doubleQuantization: true))
        }
        if c.copy { model.keepDequantizedCopies(true) }
        let buildSeconds = Date().timeIntervalSince(start), builtRSS = peakResidentMiB()
        progress(String(format: "  model built in %.0f s · RSS %.0f MiB peak", buildSeconds, builtRSS))
        let lora = LoRAConfig(rank: 16, alpha: 16, dropout: 0.05, targets: c.targets)
        try model.addAdapter("bench", config: lora, seed: 1)
        model.checkpointBlocks = c.checkpointing
        let cfg = model.config
        // Fixed ids; loss on every next token: a one-token prompt and a (T−1)-token answer per sequence.
        let sequences = (0..<c.batch).map { b in (0..<c.length).map { ($0 * 7919 + b * 104_729 + 13) % cfg.vocabSize } }
        let group = PrefixGroup(prefix: [], continuations: sequences.map { Continuation(prompt: [$0[0]], answer: Array($0.dropFirst())) })
        let trainer = try Trainer(model: model, adapter: "bench", groups: [group], options: TrainingOptions(steps: 1_000, learningRate: 1e-4))
        let flops = StepFLOPs(config: cfg, targets: c.targets, rank: lora.rank, batch: c.batch, length: c.length,
                              logitRows: c.batch * (c.length - 1))

        // Raw sgemm over one layer's forward projection shapes (x (N, in) · W (out, in)ᵀ).
        let n = c.batch * c.length
        let shapes = [(cfg.hiddenSize, cfg.headCount * cfg.headDim), (cfg.hiddenSize, cfg.kvHeadCount * cfg.headDim),
                      (cfg.hiddenSize, cfg.kvHeadCount * cfg.headDim), (cfg.headCount * cfg.headDim, cfg.hiddenSize),
                      (cfg.hiddenSize, cfg.intermediateSize), (cfg.hiddenSize, cfg.intermediateSize), (cfg.intermediateSize, cfg.hiddenSize)]
        let maxIn = shapes.map(\.0).max()!, maxOut = shapes.map(\.1).max()!
        let a = Tensor.randn([n, maxIn], seed: 1), w = Tensor.randn([maxOut * maxIn], seed: 2), y = Tensor.zeros([n, maxOut])
        let sgemmFlops = shapes.reduce(0.0) { $0 + 2 * Double(n) * Double($1.0) * Double($1.1) }
        let sgemmPass = {
            Threads.withThreadedOpenBLAS {
                for (k, m) in shapes {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(m), Int32(k), 1, a.data, Int32(k),
                                w.data, Int32(k), 0, y.data, Int32(m))
                }
            }
        }

        var loss: Float = 0
        let step = {
            let next = trainer.state.step + 1
            let heartbeat = Heartbeat(every: 30) { progress(String(format: "  step %d running · %.0f s", next, $0)) }
            let s = try trainer.step()
            heartbeat.stop()
            loss = s.loss
            progress(String(format: "  step %d: %.2f s, loss %.3f · RSS %.0f MiB peak", s.step, s.seconds, s.loss, peakResidentMiB()))
        }
        let timed = c.model == .mistral7B ? 1 : max(1, repeats)
        let (sgemmSeconds, stepSeconds) = try Stopwatch(repeats: timed, warmups: c.model == .mistral7B ? 0 : 1).timePair(sgemmPass, step)
        let sgemm = sgemmFlops / sgemmSeconds / 1e9
        let achieved = flops.total / stepSeconds / 1e9
        return QLoRABenchResult(name: c.name, tokensPerStep: n, stepSeconds: stepSeconds, tokensPerSecond: Double(n) / stepSeconds,
                                stepGFLOP: flops.total / 1e9, flops: flops.parts.mapValues { $0 / 1e9 },
                                achievedGFLOPs: achieved, sgemmGFLOPs: sgemm, ratioToSgemm: achieved / sgemm,
                                peakResidentMiB: peakResidentMiB(), builtResidentMiB: builtRSS, buildSeconds: buildSeconds,
                                loss: loss, timedSteps: timed)
    }
}

/// One progress line on standard error (standard output carries the result).
func progress(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Calls `tick(seconds since start)` every `every` seconds on a background queue until stopped.
final class Heartbeat: @unchecked Sendable {
    private let timer: DispatchSourceTimer
    init(every: Double, _ tick: @escaping @Sendable (Double) -> Void) {
        let start = Date()
        timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + every, repeating: every)
        timer.setEventHandler { tick(Date().timeIntervalSince(start)) }
        timer.resume()
    }
    func stop() { timer.cancel() }
}

/// This process's peak resident set size (getrusage; kilobytes on Linux).
func peakResidentMiB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}
