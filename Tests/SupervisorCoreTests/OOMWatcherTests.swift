import CPlatform
import Glibc
import Platform
import Testing
@testable import SupervisorCore

/// The OOM watcher's parsing and event mechanics. This machine's v2
/// hierarchy has no memory controller, so the v2 path runs here against a
/// regular file standing in for `memory.events` (real inotify, real epoll);
/// the v1 path uses a real memory cgroup where /sys/fs/cgroup/memory exists.
/// Real OOM kills of real containers are in Tests/oom (C).
@Suite struct OOMWatcherTests {
    @Test func theCounterIsTheOOMKillLine() {
        let v2 = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"
        #expect(OOMCounter.parse(Array(v2.utf8)) == 2)
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n"
        #expect(OOMCounter.parse(Array(v1.utf8)) == 7)
        #expect(OOMCounter.parse(Array("oom_kill_disable 1\nunder_oom 0\n".utf8)) == nil)
        #expect(OOMCounter.parse(Array("oom_kill x\n".utf8)) == nil)
        #expect(OOMCounter.parse(Array("oom_kill 99999999999999999999999\n".utf8)) == nil)
        #expect(OOMCounter.parse(Array("oom_kill 5".utf8)) == 5)
        #expect(OOMCounter.parse([]) == nil)
    }

    /// Waits (bounded) for the watcher's fds to report, as the epoll thread does.
    private func waitForChecks(_ epoll: Epoll, _ watcher: OOMWatcher, timeoutMs: Int32) throws -> [String] {
        var events = [epoll_event](repeating: epoll_event(), count: 8)
        let n = try epoll.wait(into: &events, timeoutMs: timeoutMs)
        var ids: [String] = []
        for i in 0..<n {
            if let token = EpollToken(data: events[i].data.u64) { ids += watcher.handle(token) }
        }
        return ids
    }

    @Test func aV2CounterFileIsWatchedThroughOneInotify() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.write("memory.events", "oom 0\noom_kill 0\n")
        let file = dir.path + "/memory.events"
        let epoll = try Epoll()
        let watcher = OOMWatcher(epoll: epoll) { _ in .v2(events: file) }
        defer { watcher.close() }

        #expect(watcher.watch(id: "c1", cgroup: "pod/c1"))
        #expect(watcher.watch(id: "c1", cgroup: "pod/c1"))      // once per id and cgroup
        #expect(watcher.watchCount == 1)
        #expect(watcher.check("c1") == nil)                     // nothing to report yet

        dir.write("memory.events", "oom 1\noom_kill 1\n")
        #expect(try waitForChecks(epoll, watcher, timeoutMs: 5000).contains("c1"))
        #expect(watcher.check("c1") == 1)
        #expect(watcher.check("c1") == nil)                     // reported once
        #expect(watcher.count(of: "c1") == 1)

        // A second container on the same file shares the inotify descriptor;
        // its own count starts from the cgroup's counter.
        #expect(watcher.watch(id: "c2", cgroup: "pod"))
        #expect(watcher.check("c2") == 1)
        dir.write("memory.events", "oom 3\noom_kill 3\n")
        let ids = try waitForChecks(epoll, watcher, timeoutMs: 5000)
        #expect(ids.contains("c1") && ids.contains("c2"))
        #expect(watcher.check("c1") == 3)
        #expect(watcher.check("c2") == 3)

        watcher.unwatch("c1")
        #expect(watcher.check("c1") == nil)
        dir.write("memory.events", "oom 4\noom_kill 4\n")
        #expect(try waitForChecks(epoll, watcher, timeoutMs: 5000) == ["c2"])
        #expect(watcher.check("c2") == 4)

        watcher.unwatch("c2")
        #expect(watcher.watchCount == 0)
        dir.write("memory.events", "oom 5\noom_kill 5\n")
        // Negative check: no watch is left to report (bounded window).
        #expect(try waitForChecks(epoll, watcher, timeoutMs: 100).isEmpty)
    }

    @Test func aCounterThatWasAlreadyCountingIsReportedAtOnce() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.write("memory.events", "oom_kill 2\n")
        let epoll = try Epoll()
        let file = dir.path + "/memory.events"
        let watcher = OOMWatcher(epoll: epoll) { _ in .v2(events: file) }
        defer { watcher.close() }
        #expect(watcher.watch(id: "c1", cgroup: "c1"))
        #expect(watcher.check("c1") == 2)
    }

    @Test func noMemoryControllerMeansNoWatch() throws {
        let epoll = try Epoll()
        let watcher = OOMWatcher(epoll: epoll) { _ in nil }
        defer { watcher.close() }
        #expect(!watcher.watch(id: "c1", cgroup: "c1"))
        #expect(watcher.check("c1") == nil)
        #expect(watcher.watchCount == 0)
    }

    @Test func aRemovedCounterFileIsNoEventAndNoCrash() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        dir.write("memory.events", "oom_kill 0\n")
        let file = dir.path + "/memory.events"
        let epoll = try Epoll()
        let watcher = OOMWatcher(epoll: epoll) { _ in .v2(events: file) }
        defer { watcher.close() }
        #expect(watcher.watch(id: "c1", cgroup: "c1"))
        unlink(file)
        _ = try waitForChecks(epoll, watcher, timeoutMs: 5000)
        #expect(watcher.check("c1") == nil)
        watcher.unwatch("c1")
    }

    /// v1 for real: a memory cgroup, its eventfd registered through
    /// cgroup.event_control; removing the cgroup signals the eventfd (the
    /// kernel's notice that the event is gone), which must not count as a kill.
    @Test(.enabled(if: getuid() == 0 && access("/sys/fs/cgroup/memory/cgroup.event_control", F_OK) == 0))
    func aV1CgroupRemovalIsNotAnOOMKill() throws {
        let name = "supv-unit-oom-\(getpid())"
        let path = "/sys/fs/cgroup/memory/" + name
        #expect(mkdir(path, 0o755) == 0)
        defer { rmdir(path) }
        let epoll = try Epoll()
        let watcher = OOMWatcher(epoll: epoll)
        defer { watcher.close() }
        #expect(watcher.watch(id: "c1", cgroup: name))
        #expect(watcher.check("c1") == nil)
        #expect(rmdir(path) == 0)
        #expect(try waitForChecks(epoll, watcher, timeoutMs: 5000) == ["c1"])
        #expect(watcher.check("c1") == nil)
        watcher.unwatch("c1")
        #expect(watcher.watchCount == 0)
    }
}
