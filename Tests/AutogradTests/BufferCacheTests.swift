// The cache of freed tensor buffers: size classes computed by hand, and a freed buffer serving a later
// tensor of another size in its class (what keeps training steps of changing sizes from faulting in fresh pages).
import Foundation
import Testing
@testable import Autograd

@Suite struct BufferCacheTests {
    @Test func sizeClassesAreFourAPowerOfTwo() {
        // below 4,096 floats a request gets what it asks
        #expect(BufferCache.capacity(for: 0) == 1)
        #expect(BufferCache.capacity(for: 4095) == 4095)
        // 4,096 = 2^12 is a class; above it 2^12·5/4, ·6/4, ·7/4, then 2^13
        #expect(BufferCache.capacity(for: 4096) == 4096)
        #expect(BufferCache.capacity(for: 4097) == 5120)
        #expect(BufferCache.capacity(for: 5120) == 5120)
        #expect(BufferCache.capacity(for: 5121) == 6144)
        #expect(BufferCache.capacity(for: 7169) == 8192)
        #expect(BufferCache.capacity(for: 8193) == 10240)
        // 512 rows × 576 features = 294,912 = 2^18·1.125 → 2^18·5/4
        #expect(BufferCache.capacity(for: 512 * 576) == 327_680)
        // never less than asked, never more than a quarter above
        for n in stride(from: 4096, to: 3_000_000, by: 997) {
            let c = BufferCache.capacity(for: n)
            #expect(c >= n && 4 * c <= 5 * n + 4, "n \(n) → \(c)")
        }
    }

    @Test func aFreedBufferServesAnotherSizeOfItsClass() {
        let cache = BufferCache()
        let p = cache.take(300 * 576)                 // 172,800 → class 196,608
        p.initialize(repeating: 1, count: 300 * 576)
        cache.give(p, 300 * 576)
        let q = cache.take(310 * 576)                 // 178,560: the same class
        #expect(q == p)
        let r = cache.take(310 * 576)                 // the class is empty again: a new buffer
        #expect(r != p)
        cache.give(q, 310 * 576); cache.give(r, 310 * 576)
        let s = cache.take(400 * 576)                 // 230,400 → class 262,144: another class
        #expect(s != q && s != r)
        cache.give(s, 400 * 576)
        cache.release()
    }
}
