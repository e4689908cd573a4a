import CPlatform
import Glibc
import SystemPackage

/// A pidfd: a handle on one process that a reused pid cannot redirect. A
/// class so an fd has exactly one closer (deinit) while a set of them can sit
/// in an array (cgroup members).
public final class PIDFD: Sendable {
    public let rawValue: Int32

    /// ESRCH when the process is already gone (reaped).
    public init(pid: pid_t) throws(Errno) {
        let fd = cp_pidfd_open(pid, 0)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        rawValue = fd
    }

    deinit { close(rawValue) }

    /// Waits until the process exits or the monotonic deadline (ms) passes;
    /// true when it exited.
    @discardableResult
    public func wait(untilMs deadline: Int64) -> Bool {
        while true {
            let remaining = deadline - MonotonicClock.nowMs()
            var pfd = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(clamping: max(remaining, 0)))
            if r > 0 { return true }
            if r == 0 || errno != EINTR { return false }
        }
    }

    /// Sends `sig` to exactly this process. ESRCH: it has exited.
    public func signal(_ sig: Int32) throws(Errno) {
        guard cp_pidfd_send_signal(rawValue, sig) == 0 else { throw Errno(rawValue: errno) }
    }
}
