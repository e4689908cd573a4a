import Glibc
import Platform
import Synchronization
import Testing
@testable import SupervisorCore

@Suite struct WorkerPoolTests {
    @Test func runsEveryJobAndSerializesPerKey() throws {
        let pool = try WorkerPool(workers: 4)
        let ran = Atomic<Int>(0)
        let overlap = Atomic<Int>(0)
        final class Counters: @unchecked Sendable {
            let lock = ConditionLock()
            var perKey = [Int](repeating: 0, count: 8)
        }
        let counters = Counters()
        for i in 0..<800 {
            let k = i % 8
            pool.submit(key: "c\(k)") {
                let concurrent = counters.lock.withLock { () -> Int in
                    counters.perKey[k] += 1
                    return counters.perKey[k]
                }
                if concurrent > 1 { overlap.add(1, ordering: .relaxed) }
                for _ in 0..<200 { _ = getpid() }
                counters.lock.withLock { counters.perKey[k] -= 1 }
                ran.add(1, ordering: .relaxed)
            }
        }
        pool.stop()
        #expect(ran.load(ordering: .relaxed) == 800)
        #expect(overlap.load(ordering: .relaxed) == 0)
    }

    @Test func jobsSubmittedByJobsRunWhileStopping() throws {
        let pool = try WorkerPool(workers: 2)
        let ran = Atomic<Int>(0)
        pool.submit(key: "a") {
            pool.submit(key: "b") { ran.add(1, ordering: .relaxed) }
            ran.add(1, ordering: .relaxed)
        }
        pool.stop()
        #expect(ran.load(ordering: .relaxed) == 2)
        #expect(pool.submit(key: "late") {} == false)
    }
}
