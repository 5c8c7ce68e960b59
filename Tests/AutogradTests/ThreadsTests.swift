// GEMMs split over the pool against the naive product on sizes that take each split, and the bits of a
// product while other threads run pool work (OpenBLAS's thread count is one setting for the process).
import CBLAS
import Dispatch
import Foundation
import Testing
@testable import Autograd

@Suite struct ThreadsTests {
    /// op(A)·op(B) by plain loops in Float64, and Σ|a·b| per element (the scale of Float32 rounding).
    func reference(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, ta: Bool, tb: Bool) -> (value: [Double], scale: [Double]) {
        var c = [Double](repeating: 0, count: m * n), scale = c
        for i in 0..<m { for j in 0..<n {
            var s = 0.0, t = 0.0
            for l in 0..<k {
                let p = Double(ta ? a[l * m + i] : a[i * k + l]) * Double(tb ? b[j * k + l] : b[l * n + j])
                s += p; t += abs(p)
            }
            c[i * n + j] = s; scale[i * n + j] = t
        } }
        return (c, scale)
    }

    @Test(arguments: [(131, 97, 171), (37, 301, 193), (17, 15, 33), (5, 2000, 255)])
    func splitProductsEqualTheNaiveOne(_ size: (Int, Int, Int)) throws {
        let (m, n, k) = size
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (batch, shared) in [(1, false), (3, false), (3, true)] {
                let a = (0..<(batch * m * k)).map { Float(0.1 + 2 * cos(Double($0))) }
                let b = (0..<(batch * k * n)).map { Float(0.1 + 2 * cos(Double($0) + 0.5)) }
                var c = [Float](repeating: .nan, count: (shared ? 1 : batch) * m * n)
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    gemmBatched(pa.baseAddress!, m * k, pb.baseAddress!, k * n, pc.baseAddress!, shared ? 0 : m * n, batch: batch,
                                m: m, n: n, k: k, transA: ta, transB: tb)
                } } }
                var want = [Double](repeating: 0, count: c.count), scale = want
                for i in 0..<batch {
                    let r = reference(Array(a[(i * m * k)..<((i + 1) * m * k)]), Array(b[(i * k * n)..<((i + 1) * k * n)]), m: m, n: n, k: k, ta: ta, tb: tb)
                    let o = shared ? 0 : i * m * n
                    for j in 0..<(m * n) { want[o + j] += r.value[j]; scale[o + j] += r.scale[j] }
                }
                // Float32 sums of k ≤ 255 products: well inside 1e-5 of Σ|a·b|; a missed or misplaced block
                // (or an element left NaN) is not
                let bad = c.indices.filter { !(abs(Double(c[$0]) - want[$0]) <= 1e-5 * scale[$0]) }.count
                #expect(bad == 0, "m \(m) n \(n) k \(k) ta \(ta) tb \(tb) batch \(batch) shared \(shared): \(bad) elements off")
            }
        }
    }

    @Test func productsAreTheSameBitsWhileOtherThreadsRunPoolWork() throws {
        let a = Tensor.randn([256, 576], seed: 1), w = Tensor.randn([1536, 576], seed: 2)
        let alone = Array(UnsafeBufferPointer(start: try matmul(a, w, transposeB: true).data, count: 256 * 1536))
        final class Flag: @unchecked Sendable { var on = true }
        let busy = Flag(), stopped = DispatchSemaphore(value: 0)
        Thread {
            let x = Tensor.randn([1 << 16], seed: 3)
            while busy.on { parallelFor(x.count) { r in for i in r { x.data[i] = x.data[i] * 0.5 + 1 } } }
            stopped.signal()
        }.start()
        defer { busy.on = false; stopped.wait() }
        for _ in 0..<20 {
            let again = try matmul(a, w, transposeB: true)
            #expect(Array(UnsafeBufferPointer(start: again.data, count: 256 * 1536)) == alone)
        }
        Threads.configureBLAS()
        #expect(openblas_get_num_threads() == 1)
    }
}
