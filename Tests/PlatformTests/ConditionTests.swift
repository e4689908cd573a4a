import Glibc
import Platform
import Synchronization
import Testing

/// Two condition variables on one lock wake their own waiters only.
@Suite struct ConditionTests {
    @Test func aSecondConditionWakesItsOwnWaiter() throws {
        let lock = ConditionLock()
        let mine = Condition(on: lock)
        final class State: @unchecked Sendable { var ready = false, woken = false }
        let state = State()
        let thread = try NativeThread.start(name: "cond-test") {
            lock.withLock {
                state.ready = true
                lock.broadcast()
                let deadline = MonotonicClock.nowNs() + 10_000_000_000
                while !state.woken && mine.wait(untilNs: deadline) {}
            }
        }
        lock.withLock { while !state.ready { lock.wait() } }
        // A broadcast on the lock's own condition does not reach it...
        lock.withLock { lock.broadcast() }
        // ...a timed wait on `mine` with nobody signalling times out...
        let timedOut = lock.withLock { !mine.wait(untilNs: MonotonicClock.nowNs() + 20_000_000) }
        #expect(timedOut)
        // ...and a signal on `mine` ends the waiter's wait.
        lock.withLock {
            state.woken = true
            mine.signal()
        }
        thread.join()
        #expect(state.woken)
    }
}
