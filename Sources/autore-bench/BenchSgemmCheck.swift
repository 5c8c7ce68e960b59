// `autore-bench sgemm-check`: whether the OpenBLAS kernel set this process runs computes sgemm right, on
// random shapes of the kinds the toolkit calls (row-major; A·B, A·Bᵀ, Aᵀ·B; β 0 and 1; one row to a few
// hundred), against a Float64 reference. A host's OPENBLAS_CORETYPE picks the set; run this under each
// candidate before trusting it with a run (Docs/performance.md, "OpenBLAS's kernel set").
import ArgumentParser
import Autograd
import CBLAS
import Foundation
import Support

struct BenchSgemmCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm-check",
        abstract: "cblas_sgemm of the kernel set in use against a Float64 reference, on random shapes; fails on any wrong result.",
        discussion: """
            Each case draws M, N, K (half of them small: 1–40; the rest up to --largest), a transpose layout and β, \
            fills A, B and C with values in [−1, 1), and compares each entry of C with the Float64 sum: the error \
            may be at most 1e-5 × Σ|a·b| + 1e-6 (Float32 rounding of K products grows with √K; a wrong kernel is \
            off by whole products). Threads: AUTORE_THREADS (OpenBLAS's own threading).
            """)

    @Option(help: "Random cases.") var cases = 400
    @Option(help: "Largest M, N and K drawn.") var largest = 700
    @Option(help: "Seed of the cases.") var seed: UInt64 = 1

    func run() throws {
        var rng = SplitMix64(seed: seed)
        func draw(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        func size() -> Int { draw(2) == 0 ? 1 + draw(40) : 1 + draw(largest) }
        print("OpenBLAS kernels: \(BLASKernels.current) (OPENBLAS_CORETYPE \(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset")), threads \(Threads.count)")
        var worst = 0.0, failures = 0
        for c in 0..<cases {
            let m = size(), n = size(), k = size()
            let layout = draw(3)   // 0: A·B, 1: A·Bᵀ, 2: Aᵀ·B
            let beta: Float = draw(2) == 0 ? 0 : 1
            let a = (0..<(m * k)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
            let b = (0..<(k * n)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
            let c0 = (0..<(m * n)).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
            // element accessors of the stored operands: A is (M, K) or stored (K, M); B is (K, N) or stored (N, K)
            let aT = layout == 2, bT = layout == 1
            func av(_ i: Int, _ p: Int) -> Float { aT ? a[p * m + i] : a[i * k + p] }
            func bv(_ p: Int, _ j: Int) -> Float { bT ? b[j * k + p] : b[p * n + j] }
            var out = c0
            Threads.withThreadedOpenBLAS {
                cblas_sgemm(CblasRowMajor, aT ? CblasTrans : CblasNoTrans, bT ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), 1, a, Int32(aT ? m : k), b, Int32(bT ? k : n), beta, &out, Int32(n))
            }
            var caseWorst = 0.0, bad = false
            for i in 0..<m {
                for j in 0..<n {
                    var exact = Double(beta) * Double(c0[i * n + j]), scale = abs(Double(beta) * Double(c0[i * n + j]))
                    for p in 0..<k { let t = Double(av(i, p)) * Double(bv(p, j)); exact += t; scale += abs(t) }
                    let err = abs(Double(out[i * n + j]) - exact)
                    caseWorst = max(caseWorst, err / (scale + 1e-30))
                    if !(err <= 1e-5 * scale + 1e-6) { bad = true }
                }
            }
            worst = max(worst, caseWorst)
            if bad {
                failures += 1
                print("WRONG: case \(c): M \(m) N \(n) K \(k) \(["A·B", "A·Bᵀ", "Aᵀ·B"][layout]) β \(beta): worst error \(caseWorst) of Σ|a·b|")
            }
        }
        print("\(cases) cases, \(failures) wrong; worst error \(String(format: "%.2e", worst)) of Σ|a·b|")
        if failures > 0 { throw ExitCode(1) }
    }
}
