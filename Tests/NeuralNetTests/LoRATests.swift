// LoRA adapters: gradients by finite differences, merge = unmerged, non-vacuity, naming and switching.
import Autograd
import Support
import Testing
@testable import NeuralNet

@Suite struct LoRATests {
    func layer(seed: UInt64 = 3) throws -> Linear {
        var g = SplitMix64(seed: seed)
        let l = Linear(inFeatures: 7, outFeatures: 5, bias: true, generator: &g)
        try l.addAdapter("heads", rank: 3, scale: 16.0 / 3, dropout: 0, generator: &g)
        // A non-zero B, so that the adapter matters (PEFT starts from B = 0).
        l.adapters["heads"]!.b.value = Tensor.randn([5, 3], std: 0.3, seed: 9, requiresGrad: true)
        return l
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let l = try layer()
        l.activeAdapter = "heads"
        let lora = l.adapters["heads"]!
        let x = Tensor.randn([4, 7], seed: 5)
        let r = try gradientCheck([x, lora.a.value, lora.b.value], eps: 1e-2, atol: 2e-3, rtol: 2e-3) { ins in
            let saved = (lora.a.value, lora.b.value)
            lora.a.value = ins[1]; lora.b.value = ins[2]
            defer { lora.a.value = saved.0; lora.b.value = saved.1 }
            return try l(ins[0])
        }
        #expect(r.passed, "\(r)")
    }

    /// The one-op adapter path of `Linear` (mask kept as bits, written over the base output) against the
    /// composed ops it replaces, base(x) + scale·((dropout(x)·Aᵀ)·Bᵀ), drawing the same dropout masks.
    @Test func fusedAdapterMatchesComposedOps() throws {
        let l = try layer()
        var g = SplitMix64(seed: 21)
        try l.addAdapter("facts", rank: 3, scale: 2, dropout: 0.3, generator: &g)
        let lora = l.adapters["facts"]!
        lora.b.value = Tensor.randn([5, 3], std: 0.3, seed: 8, requiresGrad: true)
        let start = lora.dropout!.generator.state
        let seed = Tensor.randn([2, 3, 5], seed: 13)

        func run(fused: Bool) throws -> (y: [Float], dx: [Float], da: [Float], db: [Float], state: UInt64) {
            lora.dropout!.generator.state = start
            lora.a.value.zeroGrad(); lora.b.value.zeroGrad()
            let x = Tensor.randn([2, 3, 7], seed: 5, requiresGrad: true)
            let y: Tensor
            if fused {
                l.activeAdapter = "facts"
                y = try l(x)
            } else {
                l.activeAdapter = nil
                y = try l(x) + lora(x)
            }
            try y.backward(seed: seed)
            return (y.scalars, x.grad!.scalars, lora.a.value.grad!.scalars, lora.b.value.grad!.scalars,
                    lora.dropout!.generator.state)
        }
        let fused = try run(fused: true), composed = try run(fused: false)
        #expect(fused.state == composed.state && fused.state != start)
        #expect(fused.y == composed.y)
        for (f, c) in [(fused.dx, composed.dx), (fused.da, composed.da), (fused.db, composed.db)] {
            #expect(f.count == c.count)
            for (u, v) in zip(f, c) { #expect(abs(u - v) <= 1e-5 * max(1, abs(v)), "\(u) vs \(v)") }
        }
        // Non-vacuity: dropout zeroed some inputs of the adapter (its gradient differs from the undropped one).
        lora.dropout!.training = false
        let plain = try run(fused: true)
        #expect(zip(plain.da, fused.da).map { abs($0 - $1) }.max()! > 1e-3)
    }

    /// Finite differences through the dropped-out adapter: each evaluation redraws the same mask.
    @Test func gradientsWithDropoutMatchFiniteDifferences() throws {
        let l = try layer()
        var g = SplitMix64(seed: 22)
        try l.addAdapter("facts", rank: 3, scale: 2, dropout: 0.4, generator: &g)
        l.activeAdapter = "facts"
        let lora = l.adapters["facts"]!
        lora.b.value = Tensor.randn([5, 3], std: 0.3, seed: 10, requiresGrad: true)
        let start = lora.dropout!.generator.state
        let x = Tensor.randn([4, 7], seed: 6)
        let r = try gradientCheck([x, lora.a.value, lora.b.value], eps: 1e-2, atol: 2e-3, rtol: 2e-3) { ins in
            let saved = (lora.a.value, lora.b.value)
            lora.a.value = ins[1]; lora.b.value = ins[2]
            lora.dropout!.generator.state = start
            defer { lora.a.value = saved.0; lora.b.value = saved.1 }
            return try l(ins[0])
        }
        #expect(r.passed, "\(r)")
    }

    @Test func mergedEqualsUnmergedAndDiffersFromBase() throws {
        let l = try layer()
        let x = Tensor.randn([6, 7], seed: 11)
        let base = try l(x).scalars
        l.activeAdapter = "heads"
        let adapted = try l(x).scalars
        try l.merge("heads")
        let merged = try l(x).scalars
        try l.unmerge()
        let back = try l(x).scalars
        l.activeAdapter = nil
        let baseAgain = try l(x).scalars
        for (a, m) in zip(adapted, merged) { #expect(abs(a - m) <= 1e-5 * max(1, abs(a))) }
        for (a, m) in zip(adapted, back) { #expect(abs(a - m) <= 1e-5 * max(1, abs(a))) }
        for (a, m) in zip(base, baseAgain) { #expect(abs(a - m) <= 1e-5 * max(1, abs(a))) }
        // Non-vacuity: with B ≠ 0 the adapter changes the output.
        #expect(zip(base, adapted).map { abs($0 - $1) }.max()! > 1e-2)
    }

    @Test func freshAdapterLeavesOutputUnchanged() throws {
        var g = SplitMix64(seed: 1)
        let l = Linear(inFeatures: 7, outFeatures: 5, generator: &g)
        let x = Tensor.randn([2, 7], seed: 2)
        let before = try l(x).scalars
        try l.addAdapter("relations", rank: 4, scale: 4, dropout: 0.1, generator: &g)
        l.activeAdapter = "relations"
        #expect(try l(x).scalars == before)
        // A is U(−1/√in, 1/√in), B is zero (PEFT's initialisation).
        let a = l.adapters["relations"]!.a.value.scalars
        #expect(a.allSatisfy { abs($0) <= 1 / Float(7).squareRoot() } && Set(a).count == a.count)
        #expect(l.adapters["relations"]!.b.value.scalars.allSatisfy { $0 == 0 })
    }

    final class Block: Module {
        @Child("q_proj") var q: Linear
        @Child("v_proj") var v: Linear
        @Child("o_proj") var o: Linear
        init() {
            var g = SplitMix64(seed: 4)
            q = Linear(inFeatures: 4, outFeatures: 4, bias: false, generator: &g)
            v = Linear(inFeatures: 4, outFeatures: 4, bias: false, generator: &g)
            o = Linear(inFeatures: 4, outFeatures: 4, bias: false, generator: &g)
        }
    }

    @Test func namedAdaptersOnTargetsOnly() throws {
        let m = Block()
        m.setTrainable(false)
        try m.addAdapter("relations", config: LoRAConfig(rank: 2, targets: ["q_proj", "v_proj"]), seed: 1)
        try m.addAdapter("facts", config: LoRAConfig(rank: 2, targets: ["q_proj", "v_proj"]), seed: 2)
        let keys = m.adapterParameters("facts").map(\.0)
        #expect(keys == ["q_proj.lora_A.facts.weight", "q_proj.lora_B.facts.weight", "v_proj.lora_A.facts.weight", "v_proj.lora_B.facts.weight"])
        #expect(m.trainableParameters().count == 8)
        #expect(m.o.adapters.isEmpty)
        m.activateAdapter("facts")
        #expect(m.q.activeAdapter == "facts" && m.o.activeAdapter == nil)
        #expect(throws: TensorError.self) { try m.addAdapter("x", config: LoRAConfig(targets: ["gate_proj"]), seed: 0) }
    }
}
