import Glibc

/// RFC 3339 timestamps in UTC with nanoseconds, as Docker's json-file log
/// driver and the exit record write them: 2024-01-02T03:04:05.123456789Z.
public enum Timestamp {
    public static func nowRFC3339() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return rfc3339(seconds: Int(ts.tv_sec), nanoseconds: Int(ts.tv_nsec))
    }

    public static func rfc3339(seconds: Int, nanoseconds: Int) -> String {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        var out: [UInt8] = []
        out.reserveCapacity(30)
        func put(_ value: Int, _ width: Int) {
            var digits = [UInt8](repeating: UInt8(ascii: "0"), count: width)
            var v = value
            var i = width - 1
            while i >= 0 { digits[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; i -= 1 }
            out.append(contentsOf: digits)
        }
        put(Int(tm.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        put(Int(tm.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        put(Int(tm.tm_mday), 2); out.append(UInt8(ascii: "T"))
        put(Int(tm.tm_hour), 2); out.append(UInt8(ascii: ":"))
        put(Int(tm.tm_min), 2); out.append(UInt8(ascii: ":"))
        put(Int(tm.tm_sec), 2); out.append(UInt8(ascii: "."))
        put(nanoseconds, 9); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
