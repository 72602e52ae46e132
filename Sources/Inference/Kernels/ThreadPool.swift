import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Persistent worker threads for the matrix-vector products of one forward pass (about 200 per
/// token on small matrices, so dispatch overhead matters). Workers spin briefly for the next job,
/// then sleep on a condition variable so an idle node uses no CPU.
final class ThreadPool: @unchecked Sendable {
    let threads: Int
    private let epoch = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Workers asleep (or about to be) on `wake`: only then does a job need the mutex.
    private let sleepers = Atomic<Int>(0)
    private var job: ((Range<Int>) -> Void)?
    private var jobCount = 0
    private var jobGrain = 1
    /// The next index of the job no thread has claimed yet.
    private let cursor = Atomic<Int>(0)
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var workers: [pthread_t] = []

    init(threads: Int) {
        self.threads = max(1, threads)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for index in 1..<self.threads {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.workerLoop(index: context.index)
                return nil
            }, context)
            workers.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        epoch.add(1, ordering: .releasing)
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        for thread in workers { pthread_join(thread, nil) }
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    private final class WorkerContext {
        unowned let pool: ThreadPool
        let index: Int
        init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
    }

    /// Runs `body` over 0..<rows in chunks of a multiple of 16 rows (aligned to cache lines of
    /// the output); returns when all are done.
    func parallelFor(rows: Int, _ body: (Range<Int>) -> Void) {
        guard rows >= 64 else { return body(0..<rows) }
        parallelFor(count: rows, grain: Self.grain(count: rows, threads: threads, alignment: 16), body)
    }

    /// Runs `body` over 0..<count (tokens, heads: few items of real work each) in small chunks;
    /// `serial`: all on this thread, when the work is too little to be worth waking another.
    func parallelFor(items count: Int, serial: Bool = false, _ body: (Range<Int>) -> Void) {
        // One chunk of everything runs on this thread.
        parallelFor(count: count, grain: serial ? max(1, count) : Self.grain(count: count, threads: threads, alignment: 1), body)
    }

    /// Chunks about a quarter of a thread's share, so a thread the host pauses for a moment (a
    /// shared VM) holds up little: the others claim the chunks it would have run.
    static func grain(count: Int, threads: Int, alignment: Int) -> Int {
        let share = (count + 4 * threads - 1) / (4 * threads)
        return max(alignment, (share + alignment - 1) / alignment * alignment)
    }

    private func parallelFor(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        if threads == 1 || count <= grain {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            jobCount = count
            jobGrain = grain
            cursor.store(0, ordering: .relaxed)
            finished.store(0, ordering: .relaxed)
            // A spinning worker sees the new epoch by itself. One that registered as a sleeper
            // before this add is woken under the mutex; one registering after it sees the new
            // epoch before waiting (both sides are sequentially consistent).
            epoch.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&wake)
                pthread_mutex_unlock(&mutex)
            }
            runChunks(escapable, count: count, grain: grain)
            while finished.load(ordering: .acquiring) < threads - 1 { spinPause() }
            job = nil
        }
    }

    /// Claims and runs chunks until none is left.
    private func runChunks(_ body: (Range<Int>) -> Void, count: Int, grain: Int) {
        while true {
            let start = cursor.wrappingAdd(grain, ordering: .relaxed).oldValue
            guard start < count else { return }
            body(start..<min(count, start + grain))
        }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = epoch.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins < 20_000 {
                    spinPause()
                } else {
                    pthread_mutex_lock(&mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while epoch.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(&wake, &mutex) }
                    sleepers.subtract(1, ordering: .relaxed)
                    pthread_mutex_unlock(&mutex)
                }
                current = epoch.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            if let job { runChunks(job, count: jobCount, grain: jobGrain) }
            finished.add(1, ordering: .releasing)
        }
    }
}

/// Busy-wait step; the atomic load in the caller's loop keeps it from being optimised away.
@inline(__always) private func spinPause() {}
