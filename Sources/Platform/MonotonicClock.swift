import Glibc

public enum MonotonicClock {
    public static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public static func nowMs() -> Int64 { nowNs() / 1_000_000 }
}
