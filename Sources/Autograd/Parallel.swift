// The thread pool of the kernels (row splits over helper threads that spin between calls, GCD workers when
// the pool is taken), the only source of parallelism: OpenBLAS runs single-threaded, its GEMMs split over the
// pool by the callers (MatMul). Not a task scheduler.
import Foundation
import CBLAS
import Synchronization

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
        let chunk = { (w: Int) in
            let lo = n * w / workers, hi = n * (w + 1) / workers
            if lo < hi { body(lo..<hi) }
        }
        if let pool = SpinningPool.shared, pool.run(workers, { w, _ in chunk(w) }) { return }
        DispatchQueue.concurrentPerform(iterations: workers, execute: chunk)
    }
}

/// Run `tasks` independent tasks with dynamic assignment; `body(task, worker)` gets a worker index in
/// `0..<workers` for per-thread scratch. Returns the number of workers used.
@discardableResult public func parallelTasks(_ tasks: Int, _ body: (Int, Int) -> Void) -> Int {
    let workers = min(Threads.count, tasks)
    if workers <= 1 { for t in 0..<tasks { body(t, 0) }; return 1 }
    Threads.configureBLAS()   // pool work may call OpenBLAS
    if let pool = SpinningPool.shared, pool.run(tasks, body) { return workers }
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

/// `Threads.count − 1` helper threads that run `parallelTasks` and `parallelFor` with the calling thread.
///
/// A decoding step dispatches a few hundred small products (tens of microseconds each); waking GCD's workers
/// for each cost more than the products themselves (one stream of SmolLM2 decoded slower on 2 threads than on
/// 1). Between calls a helper spins on the generation counter for `spinNanoseconds`, then sleeps on a
/// condition variable until the next call. Tasks are taken from a shared counter, as before; which thread
/// runs a task never changes its result. One call at a time: a call made while the pool is running one (from
/// another thread, or nested inside a task) returns false and the caller uses GCD.
final class SpinningPool: @unchecked Sendable {
    static let shared: SpinningPool? = Threads.count > 1 ? SpinningPool(helpers: Threads.count - 1) : nil
    /// How long an idle helper spins before it sleeps (env `AUTORE_SPIN_MICROSECONDS`, default 200).
    static let spinNanoseconds: UInt64 = {
        if let s = ProcessInfo.processInfo.environment["AUTORE_SPIN_MICROSECONDS"], let v = UInt64(s) { return v * 1000 }
        return 200_000
    }()

    let helpers: Int
    private let generation = Atomic<Int>(0)
    private let nextTask = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    /// The running call's body and task count: written before `generation` is released, read after it is acquired.
    private var body: ((Int, Int) -> Void)?
    private var tasks = 0

    private init(helpers: Int) {
        self.helpers = helpers
        mutex = .allocate(capacity: 1); pthread_mutex_init(mutex, nil)
        wake = .allocate(capacity: 1); pthread_cond_init(wake, nil)
        for w in 1...helpers {
            let t = Thread { [unowned self] in self.helperLoop(w) }
            t.name = "autore-pool-\(w)"
            t.start()
        }
    }

    /// Runs `body(task, worker)` for every task in `0..<tasks`, worker 0 being the caller and workers ≥ `tasks`
    /// taking none; false (nothing run) when the pool is already running a call.
    func run(_ tasks: Int, _ body: (Int, Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.tasks = tasks
            nextTask.store(0, ordering: .relaxed)
            finished.store(0, ordering: .relaxed)
            pthread_mutex_lock(mutex)
            generation.wrappingAdd(1, ordering: .releasing)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
            while true {
                let t = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
                if t >= tasks { break }
                body(t, 0)
            }
            var spins = 0
            while finished.load(ordering: .acquiring) < helpers {
                spins += 1
                if spins >= 4096 { sched_yield() }
            }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func helperLoop(_ w: Int) {
        var seen = 0
        while true {
            var g = generation.load(ordering: .acquiring)
            if g == seen {
                let deadline = DispatchTime.now().uptimeNanoseconds &+ SpinningPool.spinNanoseconds
                var spins = 0
                while g == seen {
                    spins += 1
                    if spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds > deadline {
                        pthread_mutex_lock(mutex)
                        while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                        pthread_mutex_unlock(mutex)
                    }
                    g = generation.load(ordering: .acquiring)
                }
            }
            seen = g
            let n = tasks
            if w < n, let body {
                while true {
                    let t = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
                    if t >= n { break }
                    body(t, w)
                }
            }
            finished.wrappingAdd(1, ordering: .releasing)
        }
    }
}
