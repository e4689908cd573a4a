import Glibc
import Platform
import SystemPackage
import Testing

@Suite struct PIDFDTests {
    @Test func waitsForARealChildAndSignalsIt() throws {
        let pid = try Spawn.start(SpawnOptions(argv: ["sleep", "30"]))
        let pidfd = try PIDFD(pid: pid)
        #expect(!pidfd.wait(untilMs: MonotonicClock.nowMs() + 50))   // still running
        try pidfd.signal(SIGTERM)
        #expect(pidfd.wait(untilMs: MonotonicClock.nowMs() + 10_000))
        #expect(try Spawn.wait(pid) == .signaled(SIGTERM))
        // Reaped: the pidfd still names that process, and says it is gone.
        #expect(throws: Errno.noSuchProcess) { try pidfd.signal(SIGKILL) }
        #expect(throws: Errno.noSuchProcess) { _ = try PIDFD(pid: pid) }
    }

    @Test func probeWaitsOnThePidfdAndSignalsOnlyTheSameProcess() throws {
        let pid = try Spawn.start(SpawnOptions(argv: ["sleep", "30"]))
        let start = try ProcStat.read(pid: pid).startTime
        #expect(ProcessProbe.liveness(pid: pid, startTime: start) == .alive)
        #expect(ProcessProbe.liveness(pid: pid, startTime: start + 1) == .gone)
        // A wrong start time is another process: nothing is sent.
        try ProcessProbe.signal(pid: pid, startTime: start + 1, signal: SIGKILL)
        let t0 = MonotonicClock.nowMs()
        ProcessProbe.waitForExit(pid: pid, startTime: start, timeoutMs: 100)
        #expect(MonotonicClock.nowMs() - t0 >= 90)
        try ProcessProbe.signal(pid: pid, startTime: start, signal: SIGKILL)
        #expect(try Spawn.wait(pid) == .signaled(SIGKILL))
    }

    @Test func runKillsAtTheDeadlineAndCapturesOutput() throws {
        let ok = try Spawn.run(["sh", "-c", "echo hi; exit 3"], timeoutMs: 10_000)
        #expect(ok.status == .exited(3) && ok.output == "hi\n" && !ok.timedOut)
        let t0 = MonotonicClock.nowMs()
        let slow = try Spawn.run(["sleep", "30"], timeoutMs: 100)
        #expect(slow.timedOut && slow.status == nil)
        #expect(MonotonicClock.nowMs() - t0 < 5_000)
        #expect(throws: SystemError(.noSuchFileOrDirectory, "posix_spawnp", path: "no-such-program-\(getpid())")) {
            _ = try Spawn.run(["no-such-program-\(getpid())"], timeoutMs: 1000)
        }
    }
}
