import CShim

/// RFC 3339 UTC with nanoseconds (2024-01-02T03:04:05.123456789Z), as the
/// json-file log and the exit record write it.
enum Timestamp {
    static func nowRFC3339() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = CShim.tm()
        gmtime_r(&t, &tm)
        var out: [UInt8] = []
        out.reserveCapacity(30)
        func put(_ value: Int, _ width: Int, _ sep: UInt8) {
            var v = value
            let start = out.count
            for _ in 0..<width { out.append(0x30) }
            var i = start + width - 1
            while i >= start { out[i] = 0x30 + UInt8(v % 10); v /= 10; i -= 1 }
            if sep != 0 { out.append(sep) }
        }
        put(Int(tm.tm_year) + 1900, 4, UInt8(ascii: "-"))
        put(Int(tm.tm_mon) + 1, 2, UInt8(ascii: "-"))
        put(Int(tm.tm_mday), 2, UInt8(ascii: "T"))
        put(Int(tm.tm_hour), 2, UInt8(ascii: ":"))
        put(Int(tm.tm_min), 2, UInt8(ascii: ":"))
        put(Int(tm.tm_sec), 2, UInt8(ascii: "."))
        put(Int(ts.tv_nsec), 9, UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
