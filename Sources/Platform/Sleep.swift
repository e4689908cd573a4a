import Glibc

/// Sleeps for `ms`, resuming after EINTR until the time has passed.
public func sleepMs(_ ms: Int) {
    guard ms > 0 else { return }
    var req = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
}
