// The thread pool of the kernels (row splits over GCD workers) and the one thread setting shared with
// OpenBLAS. Not a task scheduler: regions do not nest; work inside a region runs serially.
import Foundation
import CBLAS

/// Threads used by kernels and by OpenBLAS: env `AUTORE_THREADS`, default the number of cores.
public enum Threads {
    public static let count: Int = {
        if let s = ProcessInfo.processInfo.environment["AUTORE_THREADS"], let n = Int(s), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()
    nonisolated(unsafe) static var configured = false
    nonisolated(unsafe) static var depth = 0
    nonisolated(unsafe) static var lock: pthread_mutex_t = { var m = pthread_mutex_t(); pthread_mutex_init(&m, nil); return m }()

    /// Make OpenBLAS use `count` threads (done once, lazily, before the first GEMM).
    @inline(__always) public static func configureBLAS() {
        if configured { return }
        pthread_mutex_lock(&lock)
        if !configured {
            // OpenBLAS's idle workers spin for 2^28 cycles (~0.1 s) after each threaded call by default,
            // taking the cores from this pool's workers whenever kernels follow a GEMM (measured: attention
            // forward+backward 31 ms → 15 ms). Unless the user set it, spin 2^4 cycles, then sleep.
            if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
                setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
                openblas_read_env()
                blas_thread_shutdown_()
                blas_thread_init()
            }
            openblas_set_num_threads(Int32(count)); configured = true
        }
        pthread_mutex_unlock(&lock)
    }
    /// Enter a parallel region: OpenBLAS drops to one thread until every open region has left,
    /// so a GEMM inside pool work never starts threads of its own.
    static func enter() {
        configureBLAS()
        pthread_mutex_lock(&lock)
        if depth == 0 { openblas_set_num_threads(1) }
        depth += 1
        pthread_mutex_unlock(&lock)
    }
    static func leave() {
        pthread_mutex_lock(&lock)
        depth -= 1
        if depth == 0 { openblas_set_num_threads(Int32(count)) }
        pthread_mutex_unlock(&lock)
    }
}

/// Split `0..<n` into at most `Threads.count` contiguous chunks and run them on the pool.
/// Runs inline when there is one thread or the work is small (`n * costPerItem < 32768`).
@inline(__always) public func parallelFor(_ n: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
    let workers = min(Threads.count, n)
    if workers <= 1 || n * costPerItem < 32768 { if n > 0 { body(0..<n) }; return }
    Threads.enter(); defer { Threads.leave() }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = n * w / workers, hi = n * (w + 1) / workers
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Run `tasks` independent tasks with dynamic assignment; `body(task, worker)` gets a worker index in
/// `0..<workers` for per-thread scratch. Returns the number of workers used.
@discardableResult public func parallelTasks(_ tasks: Int, _ body: (Int, Int) -> Void) -> Int {
    let workers = min(Threads.count, tasks)
    if workers <= 1 { for t in 0..<tasks { body(t, 0) }; return 1 }
    Threads.enter(); defer { Threads.leave() }
    let counter = TaskCounter()
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            while true { let t = counter.next(); if t >= tasks { break }; body(t, w) }
        }
    }
    return workers
}

final class TaskCounter: @unchecked Sendable {
    private var value = 0
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    func next() -> Int { pthread_mutex_lock(&m); let v = value; value += 1; pthread_mutex_unlock(&m); return v }
}
