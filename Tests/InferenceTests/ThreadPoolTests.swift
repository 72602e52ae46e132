import Synchronization
import Testing
@testable import Inference

/// The pool hands every index of a job to exactly one chunk, whatever the count and thread count.
struct ThreadPoolTests {
    /// Runs a job and counts how often each index was visited.
    private static func visits(pool: ThreadPool, count: Int, rows: Bool) -> [Int] {
        let counters = Mutex([Int](repeating: 0, count: count))
        func record(_ range: Range<Int>) {
            counters.withLock { for i in range { $0[i] += 1 } }
        }
        if rows { pool.parallelFor(rows: count) { record($0) } } else { pool.parallelFor(items: count) { record($0) } }
        return counters.withLock { $0 }
    }

    @Test(arguments: [1, 2, 3, 4])
    func everyIndexRunsExactlyOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        for count in [0, 1, 2, 7, 15, 16, 17, 63, 64, 65, 192, 576, 1000, 1536, 49_152] {
            for rows in [true, false] {
                let seen = Self.visits(pool: pool, count: count, rows: rows)
                #expect(seen.allSatisfy { $0 == 1 }, "count \(count), rows \(rows), threads \(threads): \(seen.filter { $0 != 1 }.count) indices not run once")
            }
        }
    }

    @Test func manyJobsInARowEachComplete() {
        // Back-to-back jobs: a worker that wakes late for one job must not run chunks of the next.
        let pool = ThreadPool(threads: 2)
        for job in 0..<2_000 {
            let count = 1 + job % 97
            let seen = Self.visits(pool: pool, count: count, rows: false)
            #expect(seen.allSatisfy { $0 == 1 }, "job \(job)")
        }
    }

    @Test func rowChunksStayAlignedToSixteen() {
        for threads in 1...4 {
            for count in [64, 100, 576, 1536, 49_152] {
                let grain = ThreadPool.grain(count: count, threads: threads, alignment: 16)
                #expect(grain % 16 == 0 && grain >= 16)
                // Several chunks per thread (where there are enough rows), so one paused thread holds up little.
                #expect((count + grain - 1) / grain >= min(2 * threads, count / 16), "count \(count), threads \(threads), grain \(grain)")
            }
        }
    }
}
