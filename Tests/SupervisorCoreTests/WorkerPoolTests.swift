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

    @Test func backgroundJobsLeaveAWorkerAndYieldToOthers() throws {
        let pool = WorkerPool(workers: 3)
        let gate = ConditionLock()
        final class State: @unchecked Sendable { var open = false; var background = 0, most = 0; var order: [String] = [] }
        let state = State()
        // Five GC-like jobs that hang: at most two workers of three hold them.
        for k in 0..<5 {
            pool.submit(key: "gc\(k)", priority: .background) {
                gate.withLock {
                    state.background += 1
                    state.most = max(state.most, state.background)
                    gate.broadcast()
                    while !state.open { gate.wait() }
                    state.background -= 1
                    state.order.append("gc\(k)")
                }
            }
        }
        let deadline = MonotonicClock.nowNs() + 10_000_000_000
        gate.withLock { while state.background < 2 && gate.wait(untilNs: deadline) {} }
        // An exit-like job still runs while they hang...
        let ran = Atomic<Bool>(false)
        pool.submit(key: "exit") {
            ran.store(true, ordering: .releasing)
            gate.withLock { gate.broadcast() }
        }
        gate.withLock { while !ran.load(ordering: .acquiring) && gate.wait(untilNs: deadline) {} }
        let exitRan = ran.load(ordering: .acquiring)
        #expect(exitRan)
        gate.withLock {
            #expect(state.most == 2)
            state.open = true
            gate.broadcast()
        }
        pool.stop()
        #expect(state.order.count == 5)
        #expect(state.most == 2)
    }

    @Test func aPoolThatNeverWorkedStopsAtOnce() {
        let pool = WorkerPool(workers: 4)
        pool.stop()
        #expect(pool.submit(key: "late") {} == false)
    }
}
