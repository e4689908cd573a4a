import CPlatform
import Glibc
import SystemPackage

/// An epoll instance. Owns its fd, closed once, by deinit: when the last
/// holder (the supervisor, its OOM watcher, its epoll thread) lets go, no
/// thread can still be waiting on it.
public final class Epoll: Sendable {
    public let fd: Int32

    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let input = Events(rawValue: EPOLLIN.rawValue)
        public static let output = Events(rawValue: EPOLLOUT.rawValue)
        public static let hangup = Events(rawValue: EPOLLHUP.rawValue)
        public static let readHangup = Events(rawValue: EPOLLRDHUP.rawValue)
        public static let error = Events(rawValue: EPOLLERR.rawValue)
        public static let edgeTriggered = Events(rawValue: EPOLLET.rawValue)
        public static let oneShot = Events(rawValue: EPOLLONESHOT.rawValue)
    }

    public init() throws(Errno) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        self.fd = fd
    }

    public func add(_ target: Int32, events: Events, data: UInt64) throws(Errno) {
        try control(EPOLL_CTL_ADD, target, events, data)
    }

    public func modify(_ target: Int32, events: Events, data: UInt64) throws(Errno) {
        try control(EPOLL_CTL_MOD, target, events, data)
    }

    public func remove(_ target: Int32) throws(Errno) {
        try control(EPOLL_CTL_DEL, target, [], 0)
    }

    private func control(_ op: Int32, _ target: Int32, _ events: Events, _ data: UInt64) throws(Errno) {
        var ev = epoll_event()
        ev.events = events.rawValue
        ev.data.u64 = data
        guard epoll_ctl(fd, op, target, &ev) == 0 else { throw Errno(rawValue: errno) }
    }

    /// Waits for events (timeoutMs -1: forever), retrying EINTR. `buffer`
    /// is reused across calls to avoid allocating per wake-up.
    public func wait(into buffer: inout [epoll_event], timeoutMs: Int32 = -1) throws(Errno) -> Int {
        let n = buffer.withUnsafeMutableBufferPointer { p in
            retryingEINTR { epoll_wait(fd, p.baseAddress, Int32(p.count), timeoutMs) }
        }
        guard n >= 0 else { throw Errno(rawValue: errno) }
        return Int(n)
    }

    deinit { _ = Glibc.close(fd) }
}

/// An eventfd used to wake a thread blocked in epoll_wait or poll (or as a
/// v1 cgroup OOM notifier). Owns its fd, closed by deinit.
public final class EventFD: Sendable {
    public let fd: Int32

    public init() throws(Errno) {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        self.fd = fd
    }

    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fd, $0.baseAddress, 8) }
    }

    /// Resets the counter; harmless when it was already zero.
    public func drain() { _ = take() }

    /// Reads and resets the counter; nil when it was zero (EAGAIN).
    public func take() -> UInt64? {
        var value: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &value) { p in retryingEINTR { read(fd, p.baseAddress, 8) } }
        return n == 8 ? value : nil
    }

    deinit { _ = Glibc.close(fd) }
}
