import CPlatform
import Glibc
import SystemPackage

/// A CLOCK_MONOTONIC timerfd (non-blocking, close-on-exec), one-shot. Owns
/// its fd, closed by deinit.
public final class TimerFD: Sendable {
    public let fd: Int32

    public init() throws(Errno) {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        self.fd = fd
    }

    /// Fires once at the absolute monotonic time `deadlineNs`; 0 disarms.
    public func arm(atNs deadlineNs: Int64) {
        var spec = itimerspec()
        if deadlineNs > 0 {
            // A zero it_value disarms: a deadline already past fires at once.
            let ns = max(deadlineNs, 1)
            spec.it_value.tv_sec = Int(ns / 1_000_000_000)
            spec.it_value.tv_nsec = Int(ns % 1_000_000_000)
        }
        _ = timerfd_settime(fd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
    }

    /// Resets the expiry count; harmless when the timer has not fired.
    public func drain() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fd, $0.baseAddress, 8) }
    }

    deinit { _ = Glibc.close(fd) }
}
