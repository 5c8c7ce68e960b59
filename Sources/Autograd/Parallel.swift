// The thread pool of the kernels (row splits over GCD workers), the only source of parallelism: OpenBLAS
// runs single-threaded, its GEMMs split over the pool by the callers (MatMul). Not a task scheduler.
import Foundation
import CBLAS

/// Threads used by the kernels: env `AUTORE_THREADS`, default the number of cores shared by the processes
/// an MPI launcher started on this machine (`OMPI_COMM_WORLD_LOCAL_SIZE`), at least one.
///
/// OpenBLAS's own thread count is one setting for the whole process, and a GEMM's bits depend on it. It
/// stays at one, and every split of work depends on `count` alone: a result is the same bits whatever
/// other threads of the process are doing, and for a given `count` from run to run.
public enum Threads {
    public static let count: Int = {
        let env = ProcessInfo.processInfo.environment
        if let s = env["AUTORE_THREADS"], let n = Int(s), n >= 1 { return n }
        let local = env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, local))
    }()
    nonisolated(unsafe) static var configured = false
    nonisolated(unsafe) static var lock: pthread_mutex_t = { var m = pthread_mutex_t(); pthread_mutex_init(&m, nil); return m }()

    /// Make OpenBLAS single-threaded (done once, lazily, before the first BLAS call).
    @inline(__always) public static func configureBLAS() {
        if configured { return }
        pthread_mutex_lock(&lock)
        if !configured {
            // OpenBLAS's idle workers spin for 2^28 cycles (~0.1 s) after each threaded call by default,
            // taking the cores from this pool's workers when a benchmark's threaded baseline (below) is
            // followed by kernels. Unless the user set it, spin 2^4 cycles, then sleep.
            if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
                setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
                openblas_read_env()
                blas_thread_shutdown_()
                blas_thread_init()
            }
            openblas_set_num_threads(1); configured = true
        }
        pthread_mutex_unlock(&lock)
    }

    /// Runs `body` with OpenBLAS threaded over `count` threads: the ceiling benchmarks compare the
    /// pool-split GEMMs with. Never around library work (it would make results depend on it).
    public static func withThreadedOpenBLAS<T>(_ body: () throws -> T) rethrows -> T {
        configureBLAS()
        openblas_set_num_threads(Int32(count))
        defer { openblas_set_num_threads(1) }
        return try body()
    }
}

/// Split `0..<n` into at most `Threads.count` contiguous chunks and run them on the pool.
/// Runs inline when there is one thread or the work is small (`n * costPerItem < 32768`).
@inline(__always) public func parallelFor(_ n: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
    let workers = min(Threads.count, n)
    if workers <= 1 || n * costPerItem < 32768 { if n > 0 { body(0..<n) }; return }
    Threads.configureBLAS()   // pool work may call OpenBLAS
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
    Threads.configureBLAS()   // pool work may call OpenBLAS
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
