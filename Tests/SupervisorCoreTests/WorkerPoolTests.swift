import Glibc
import Platform
import Synchronization
import Testing
@testable import SupervisorCore

@Suite struct WorkerPoolTests {
    @Test func runsEveryJobAndSerializesPerKey() throws {
        let pool = WorkerPool(workers: 4)
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
        let pool = WorkerPool(workers: 2)
        let ran = Atomic<Int>(0)
        pool.submit(key: "a") {
            pool.submit(key: "b") { ran.add(1, ordering: .relaxed) }
            ran.add(1, ordering: .relaxed)
        }
        pool.stop()
        #expect(ran.load(ordering: .relaxed) == 2)
        #expect(pool.submit(key: "late") {} == false)
    }

    @Test func workersStartOnlyWhenWorkNeedsThem() throws {
        let pool = WorkerPool(workers: 3)
        #expect(pool.startedWorkers == 0)
        let gate = ConditionLock()
        final class Flag: @unchecked Sendable { var open = false; var running = 0 }
        let flag = Flag()
        // Three jobs that hold their worker: three workers, and never a fourth.
        for k in 0..<5 {
            pool.submit(key: "k\(k)") {
                gate.withLock {
                    flag.running += 1
                    gate.broadcast()
                    while !flag.open { gate.wait() }
                }
            }
        }
        let deadline = MonotonicClock.nowNs() + 10_000_000_000
        gate.withLock { while flag.running < 3 && gate.wait(untilNs: deadline) {} }
        #expect(pool.startedWorkers == 3)
        gate.withLock { flag.open = true; gate.broadcast() }
        pool.stop()
        #expect(flag.running == 5)
        #expect(pool.startedWorkers == 0)
    }

    @Test func aPoolThatNeverWorkedStopsAtOnce() {
        let pool = WorkerPool(workers: 4)
        pool.stop()
        #expect(pool.submit(key: "late") {} == false)
    }
}
