import CPlatform
import Glibc
import Platform
import SystemPackage
import Testing

@Suite struct EventSourceTests {
    @Test func inotifyReportsAModification() throws {
        let dir = TempDir("inotify")
        try AtomicFile.write(Array("a".utf8), directory: dir.path, name: "watched")
        let inotify = try Inotify()
        let wd = try inotify.addWatch(dir.sub("watched"), mask: UInt32(IN_MODIFY))
        #expect(!readable(inotify.fd, within: 0))
        try KernelFile.write(dir.sub("watched"), "b")
        #expect(readable(inotify.fd, within: 5_000))
        var seen: [(Int32, UInt32)] = []
        inotify.drain { seen.append(($0, $1)) }
        #expect(seen.contains { $0.0 == wd && $0.1 & UInt32(IN_MODIFY) != 0 })
        #expect(!readable(inotify.fd, within: 0))
        #expect(throws: SystemError(.noSuchFileOrDirectory, "inotify_add_watch", path: dir.sub("missing"))) {
            _ = try inotify.addWatch(dir.sub("missing"), mask: UInt32(IN_MODIFY))
        }
    }

    @Test func timerFiresAtItsDeadlineAndDisarms() throws {
        let timer = try TimerFD()
        let t0 = MonotonicClock.nowNs()
        timer.arm(atNs: t0 + 30_000_000)
        #expect(readable(timer.fd, within: 5_000))
        #expect(MonotonicClock.nowNs() - t0 >= 30_000_000)
        timer.drain()
        #expect(!readable(timer.fd, within: 0))
        timer.arm(atNs: MonotonicClock.nowNs() + 20_000_000)
        timer.arm(atNs: 0)  // disarmed: never fires
        #expect(!readable(timer.fd, within: 100))
    }

    @Test func epollWakesOnAnEventFD() throws {
        let epoll = try Epoll()
        let wake = try EventFD()
        try epoll.add(wake.fd, events: .input, data: 42)
        var events = [epoll_event](repeating: epoll_event(), count: 4)
        #expect(try epoll.wait(into: &events, timeoutMs: 0) == 0)
        wake.signal()
        #expect(try epoll.wait(into: &events, timeoutMs: 5_000) == 1)
        #expect(events[0].data.u64 == 42)
        wake.drain()
        #expect(try epoll.wait(into: &events, timeoutMs: 0) == 0)
        #expect(throws: Errno.fileExists) { try epoll.add(wake.fd, events: .input, data: 1) }
    }
}
