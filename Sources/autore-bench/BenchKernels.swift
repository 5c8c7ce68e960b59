// `autore-bench kernels`: Tensor matmul vs raw cblas_sgemm, and the fused kernels' throughput.
// Not a profiler: medians of a few timed repeats after warm-up, in one process, as ratios.
import ArgumentParser
import Autograd
import CBLAS
import Foundation

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GFLOP/s of Tensor matmul next to raw cblas_sgemm, and RMSNorm/softmax/RoPE/attention throughput.")

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Timed repeats per measurement (the median is reported).")
    var repeats = 5

    var clock: Stopwatch { Stopwatch(repeats: repeats) }
    func time(_ body: () throws -> Void) rethrows -> Double { try clock.time(body) }
    func timePair(_ a: () throws -> Void, _ b: () throws -> Void) rethrows -> (Double, Double) { try clock.timePair(a, b) }

    func run() throws {
        var rows: [[String: Any]] = []
        func line(_ s: String) { if !json { print(s) } }
        line("threads: \(Threads.count) (AUTORE_THREADS; the pool, and OpenBLAS's own threading in the sgemm column)")
        line("OpenBLAS kernels: \(BLASKernels.current) (OPENBLAS_CORETYPE \(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"))")
        line("")
        line("matmul  x (M, K) · Wᵀ, W (N, K)          Tensor GFLOP/s   sgemm GFLOP/s   ratio")
        let m = 512
        for (k, n) in [(576, 576), (576, 1536), (1536, 576), (576, 49152)] {
            let x = Tensor.randn([m, k], seed: 1), w = Tensor.randn([n, k], seed: 2)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n); defer { c.deallocate() }
            let flops = 2.0 * Double(m * n * k)
            // Interleaved so that load from other processes hits both sides alike.
            let (raw, ours) = try timePair({
                Threads.withThreadedOpenBLAS {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1,
                                x.data, Int32(k), w.data, Int32(k), 0, c, Int32(n))
                }
            }, { _ = try matmul(x, w, transposeB: true) })
            let g1 = flops / ours / 1e9, g2 = flops / raw / 1e9
            line(String(format: "  M=%d K=%-5d N=%-6d                  %8.1f        %8.1f     %.2f", m, k, n, g1, g2, g1 / g2))
            rows.append(["kernel": "matmul", "M": m, "K": k, "N": n, "tensor_gflops": g1, "sgemm_gflops": g2, "ratio": g1 / g2])
        }

        line("")
        line("row kernels                               forward            backward")
        // RMSNorm over (4096, 576): forward moves x in, y out; backward x, dy in, dx out (weights negligible).
        do {
            let x = Tensor.randn([4096, 576], seed: 3, requiresGrad: true), w = Tensor.ones([576], requiresGrad: true)
            let g = Tensor.randn([4096, 576], seed: 4)
            let bytes = Double(x.count * 4)
            let f = try time { _ = try withNoGrad { try rmsNorm(x, weight: w, eps: 1e-5) } }
            let y = try rmsNorm(x, weight: w, eps: 1e-5)
            let b = try time { x.grad = nil; w.grad = nil; try y.backward(seed: g) }
            line(String(format: "  RMSNorm (4096, 576)                     %6.1f GB/s        %6.1f GB/s", 2 * bytes / f / 1e9, 3 * bytes / b / 1e9))
            rows.append(["kernel": "rmsnorm", "shape": [4096, 576], "fwd_gbs": 2 * bytes / f / 1e9, "bwd_gbs": 3 * bytes / b / 1e9])
        }
        do {
            let x = Tensor.randn([9 * 512, 512], seed: 5, requiresGrad: true), g = Tensor.randn([9 * 512, 512], seed: 6)
            let bytes = Double(x.count * 4)
            let f = try time { _ = try withNoGrad { try softmax(x) } }
            let y = try softmax(x)
            let b = try time { x.grad = nil; try y.backward(seed: g) }
            line(String(format: "  softmax (4608, 512)                     %6.1f GB/s        %6.1f GB/s", 2 * bytes / f / 1e9, 3 * bytes / b / 1e9))
            rows.append(["kernel": "softmax", "shape": [4608, 512], "fwd_gbs": 2 * bytes / f / 1e9, "bwd_gbs": 3 * bytes / b / 1e9])
        }
        do {
            let x = Tensor.randn([1, 512, 9, 64], seed: 7, requiresGrad: true), g = Tensor.randn([1, 512, 9, 64], seed: 8)
            let pos = Array(0..<512)
            let bytes = Double(x.count * 4)
            let f = try time { _ = try withNoGrad { try rope(x, positions: pos, theta: 10000) } }
            let y = try rope(x, positions: pos, theta: 10000)
            let b = try time { x.grad = nil; try y.backward(seed: g) }
            line(String(format: "  RoPE (1, 512, 9, 64)                    %6.1f GB/s        %6.1f GB/s   (%.0f / %.0f tokens/ms)",
                        2 * bytes / f / 1e9, 2 * bytes / b / 1e9, 512 / f / 1e3, 512 / b / 1e3))
            rows.append(["kernel": "rope", "shape": [1, 512, 9, 64], "fwd_gbs": 2 * bytes / f / 1e9, "bwd_gbs": 2 * bytes / b / 1e9,
                         "fwd_tokens_per_s": 512 / f, "bwd_tokens_per_s": 512 / b])
        }

        do {
            let a = Tensor.randn([4096, 576], seed: 13), b = Tensor.randn([4096, 576], seed: 14), bias = Tensor.randn([576], seed: 15)
            let bytes = Double(a.count * 4)
            let same = try time { _ = try withNoGrad { try a * b } }
            let bc = try time { _ = try withNoGrad { try a + bias } }
            let un = time { _ = withNoGrad { silu(a) } }
            line(String(format: "  mul (4096, 576)²  %6.1f GB/s   add (4096, 576)+(576)  %6.1f GB/s   silu  %6.1f GB/s",
                        3 * bytes / same / 1e9, 2 * bytes / bc / 1e9, 2 * bytes / un / 1e9))
            rows.append(["kernel": "elementwise", "shape": [4096, 576], "mul_gbs": 3 * bytes / same / 1e9,
                         "add_bias_gbs": 2 * bytes / bc / 1e9, "silu_gbs": 2 * bytes / un / 1e9])
            // GELU (tanh form, Gemma's GeGLU) against the same formula through libm's tanhf, both over the pool
            let out = Tensor.zeros(a.shape), pa = a.data, po = out.data
            let (gelu, libm) = timePair({ _ = withNoGrad { geluTanh(a) } }, {
                parallelFor(a.count, costPerItem: 4) { r in
                    for i in r {
                        let x = pa[i]
                        po[i] = 0.5 * x * (1 + Foundation.tanh(0.797_884_56 * (x + 0.044_715 * x * x * x)))
                    }
                }
            })
            line(String(format: "  geluTanh (4096, 576)  %6.1f GB/s   the same through libm's tanhf  %6.1f GB/s   ratio %.1f",
                        2 * bytes / gelu / 1e9, 2 * bytes / libm / 1e9, libm / gelu))
            rows.append(["kernel": "geluTanh", "shape": [4096, 576], "gbs": 2 * bytes / gelu / 1e9, "libm_tanhf_gbs": 2 * bytes / libm / 1e9])
        }

        // Attention: B 1, T 512, 9 query heads of 64, 3 KV heads.
        do {
            let t = 512, hq = 9, hkv = 3, d = 64
            let q = Tensor.randn([1, t, hq, d], seed: 9, requiresGrad: true)
            let k = Tensor.randn([1, t, hkv, d], seed: 10, requiresGrad: true)
            let v = Tensor.randn([1, t, hkv, d], seed: 11, requiresGrad: true)
            let g = Tensor.randn([1, t, hq, d], seed: 12)
            // Causal FLOPs, FlashAttention convention: forward = 2 GEMMs over the T(T+1)/2 visible pairs
            // (4·D·H·T(T+1)/2); backward = 2.5 × forward (its 5 GEMMs, recomputed scores included).
            let fwdFlops = 4.0 * Double(d * hq) * Double(t * (t + 1) / 2)
            // Each measurement is interleaved with a raw sgemm (M 512, K 576, N 1536) so the ratio holds under load.
            let x = Tensor.randn([512, 576], seed: 16), w = Tensor.randn([1536, 576], seed: 17)
            let c = UnsafeMutablePointer<Float>.allocate(capacity: 512 * 1536); defer { c.deallocate() }
            let sgemmFlops = 2.0 * 512 * 576 * 1536
            let raw = {
                Threads.withThreadedOpenBLAS {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 512, 1536, 576, 1, x.data, 576, w.data, 576, 0, c, 1536)
                }
            }
            let (s1, f) = try timePair(raw, { _ = try withNoGrad { try causalAttention(q: q, k: k, v: v) } })
            let (s2, fb) = try timePair(raw, {
                q.grad = nil; k.grad = nil; v.grad = nil
                let o = try causalAttention(q: q, k: k, v: v)
                try o.backward(seed: g)
            })
            let ref1 = sgemmFlops / s1 / 1e9, ref2 = sgemmFlops / s2 / 1e9
            let gf = fwdFlops / f / 1e9, gfb = 3.5 * fwdFlops / fb / 1e9
            line("")
            line("attention B=1 T=512 Hq=9 Hkv=3 D=64 (causal FLOPs; backward counted as 2.5× forward;")
            line("ratio to a 512×576×1536 sgemm timed alternately with it)")
            line(String(format: "  forward            %7.2f ms   %6.1f GFLOP/s   %.2f of sgemm (%.1f GFLOP/s)", f * 1e3, gf, gf / ref1, ref1))
            line(String(format: "  forward+backward   %7.2f ms   %6.1f GFLOP/s   %.2f of sgemm (%.1f GFLOP/s)", fb * 1e3, gfb, gfb / ref2, ref2))
            rows.append(["kernel": "attention", "T": t, "hq": hq, "hkv": hkv, "D": d, "flops": "causal, bwd = 2.5 x fwd",
                         "fwd_ms": f * 1e3, "fwd_gflops": gf, "fwd_ratio_to_sgemm": gf / ref1,
                         "fwdbwd_ms": fb * 1e3, "fwdbwd_gflops": gfb, "ratio_to_sgemm": gfb / ref2, "sgemm_gflops": ref2])
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["threads": Threads.count, "openblas_kernels": BLASKernels.current, "results": rows] as [String: Any], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
