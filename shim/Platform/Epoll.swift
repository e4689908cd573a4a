import CShim

/// The shim's one epoll set. Level-triggered; each registration carries a
/// 64-bit tag the loop dispatches on.
struct Epoll: ~Copyable {
    private let fd: FD

    static let input = UInt32(EPOLLIN.rawValue)
    static let output = UInt32(EPOLLOUT.rawValue)

    init() throws(Errno) {
        fd = FD(adopting: try sys32 { epoll_create1(Int32(EPOLL_CLOEXEC)) })
    }

    func add(_ target: Int32, events: UInt32, tag: UInt64) throws(Errno) {
        try control(EPOLL_CTL_ADD, target, events, tag)
    }

    func modify(_ target: Int32, events: UInt32, tag: UInt64) throws(Errno) {
        try control(EPOLL_CTL_MOD, target, events, tag)
    }

    /// Removing an fd that is not in the set is not an error.
    func remove(_ target: Int32) {
        var ev = epoll_event()
        _ = epoll_ctl(fd.raw, EPOLL_CTL_DEL, target, &ev)
    }

    private func control(_ op: Int32, _ target: Int32, _ events: UInt32, _ tag: UInt64) throws(Errno) {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = tag
        let e = fd.raw
        _ = try sys32 { epoll_ctl(e, op, target, &ev) }
    }

    /// Waits up to timeoutMs (-1: forever); EINTR retried.
    func wait(into buffer: inout [epoll_event], timeoutMs: Int32) throws(Errno) -> Int {
        let e = fd.raw
        return try buffer.withUnsafeMutableBufferPointer { (p) throws(Errno) -> Int in
            try sys { Int(epoll_wait(e, p.baseAddress, Int32(p.count), timeoutMs)) }
        }
    }
}

enum Clock {
    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func sleepMs(_ ms: Int) {
        guard ms > 0 else { return }
        var req = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var rem = timespec()
        while nanosleep(&req, &rem) != 0 && cs_errno() == EINTR { req = rem }
    }
}

/// poll(2) on one fd for `events`, EINTR retried: true when ready.
func pollOne(_ fd: Int32, events: Int16 = Int16(POLLIN), timeoutMs: Int32) -> Bool {
    var pfd = pollfd(fd: fd, events: events, revents: 0)
    let r = (try? sys32 { poll(&pfd, 1, timeoutMs) }) ?? -1
    return r > 0
}
