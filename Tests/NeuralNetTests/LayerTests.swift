// Module tree keys and the basic layers' forward/backward.
import Support
import Testing
import Autograd
import Quantization
@testable import NeuralNet

final class Block: Module {
    @Child("norm") var norm = RMSNorm(dimension: 4)
    @Child("proj") var proj: Linear
    @Child("drop") var drop = Dropout(p: 0.5, seed: 3)
    init(_ g: inout SplitMix64) { proj = Linear(inFeatures: 4, outFeatures: 4, bias: false, generator: &g) }
}
final class Tiny: Module {
    @Child("embed_tokens") var embed: Embedding
    @Child("layers") var layers: [Block]
    @Child("lm_head") var head: Linear
    init() {
        var g = SplitMix64(seed: 1)
        embed = Embedding(vocabulary: 10, dimension: 4, generator: &g)
        layers = [Block(&g), Block(&g)]
        head = Linear(inFeatures: 4, outFeatures: 10, generator: &g)
    }
}

@Suite struct LayerTests {
    @Test func dottedKeys() {
        let m = Tiny()
        #expect(m.namedParameters().map(\.0) == [
            "embed_tokens.weight", "layers.0.norm.weight", "layers.0.proj.weight",
            "layers.1.norm.weight", "layers.1.proj.weight", "lm_head.weight", "lm_head.bias"])
        #expect(m.parameter("layers.1.proj.weight")?.shape == [4, 4])
        m.setTrainable(false)
        #expect(m.trainableParameters().isEmpty)
        m.setTraining(false)
        #expect(m.layers.allSatisfy { !$0.drop.training })
    }

    @Test func linearMatchesFormulaAndLearns() throws {
        let w = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = try Tensor([0.5, -1], shape: [2])
        let lin = try Linear(weight: w, bias: b)
        let x = try Tensor([1, 0, -1, 2, 1, 0], shape: [2, 3])
        let want: [Float] = [-1.5, -3, 4.5, 12]
        #expect(try lin(x).scalars == want)
        let loss = try lin(x).sum()
        try loss.backward()
        #expect(lin.bias?.grad?.scalars == [2, 2])
        if case .dense(let p) = lin.weight { #expect(p.grad?.scalars == [3, 1, -1, 3, 1, -1]) }
        #expect(throws: TensorError.self) { try lin(Tensor.zeros([2, 4])) }
    }

    @Test func embeddingNormDropout() throws {
        let emb = Embedding(table: try Tensor([0, 1, 2, 3, 4, 5], shape: [3, 2]))
        #expect(try emb([2, 0], shape: [1, 2]).scalars == [4, 5, 0, 1])
        let norm = RMSNorm(dimension: 2, eps: 0)
        let y = try norm(try Tensor([3, 4], shape: [1, 2])).scalars
        let r = (12.5 as Float).squareRoot()
        #expect(abs(y[0] - 3 / r) < 1e-6 && abs(y[1] - 4 / r) < 1e-6)
        let d = Dropout(p: 0.5, seed: 9)
        let on = try d(Tensor.ones([100])).scalars
        #expect(on.contains(0) && on.contains(2))
        d.training = false
        #expect(try d(Tensor.ones([3])).scalars == [1, 1, 1])
    }
}

/// A Linear whose weight stays in GGML blocks: no parameters of its own, the dense layer's products, and a LoRA
/// adapter on it that trains (gradients reach A, B and the input).
@Suite struct BlockWeightLinearTests {
    /// A Q8_0 weight (rows × 32·blocks) with scales k/256 and codes from a counter, and the Float32 it decodes to.
    func q8Weight(rows: Int, columns: Int) throws -> (GGMLMatrix, Tensor) {
        var bytes: [UInt8] = []
        for b in 0..<(rows * columns / 32) {
            let scale = Float(1 + b % 7) / 256   // exact in fp16: 2^-8 · k
            let h = scale.bitPattern
            let half = UInt16((h >> 16) & 0x8000) | UInt16(Int((h >> 23) & 0xFF) - 127 + 15) << 10 | UInt16((h >> 13) & 0x3FF)
            bytes += [UInt8(half & 0xFF), UInt8(half >> 8)]
            bytes += (0..<32).map { UInt8(bitPattern: Int8(truncatingIfNeeded: ($0 * 37 + b * 11) % 255 - 127)) }
        }
        let q = try GGMLMatrix(type: .q8_0, rows: rows, columns: columns, bytes: bytes)
        return (q, try Tensor(q.dequantized(), shape: [rows, columns]))
    }

    @Test func blocksLinearEqualsDenseLinearAndTrainsItsAdapter() throws {
        for n in [1, 5, 20] {   // the fused product and the tiled one
            let (q, dense) = try q8Weight(rows: 9, columns: 64)
            let blocks = try Linear(blocks: q), plain = try Linear(weight: dense)
            #expect(blocks.namedParameters(prefix: "p").isEmpty)
            var g = SplitMix64(seed: 4)
            try blocks.addAdapter("a", rank: 2, scale: 2, dropout: 0, generator: &g)
            blocks.adapters["a"]!.b.value = Tensor.randn([9, 2], std: 0.3, seed: 5, requiresGrad: true)
            blocks.activeAdapter = "a"
            let x = Tensor.randn([n, 64], seed: 6, requiresGrad: true)
            let y = try blocks(x), yDense = try plain(x), lora = try blocks.adapters["a"]!(x)
            for i in 0..<y.count {
                let want = yDense.data[i] + lora.data[i]
                #expect(abs(y.data[i] - want) <= 1e-5 * max(1, abs(want)), "n=\(n) output \(i)")
            }
            let r = try gradientCheck([x], eps: 1e-2, atol: 2e-3, rtol: 2e-3) { try blocks($0[0]) }
            #expect(r.passed, "n=\(n) \(r)")
            try y.sum().backward()
            #expect(blocks.adapters["a"]!.a.grad != nil && blocks.adapters["a"]!.b.grad != nil)
        }
        #expect(throws: TensorError.self) { try Linear(blocks: try q8Weight(rows: 9, columns: 64).0, bias: Tensor.zeros([8])) }
    }
}
