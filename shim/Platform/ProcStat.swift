import CShim

/// /proc/<pid>/stat: the state (field 3) and start time (field 22, clock
/// ticks since boot) that, with the pid, name one process. The library's
/// exit record reader compares exactly this number.
struct ProcStat {
    var state: UInt8
    var startTime: UInt64

    static func read(pid: Int32) throws(Errno) -> ProcStat {
        guard pid > 0 else { throw Errno.invalid }
        let fd = try FD(open: "/proc/\(pid)/stat", O_RDONLY)
        let bytes = try fd.readAll(limit: 4096)
        guard let stat = parse(bytes) else { throw Errno.invalid }
        return stat
    }

    /// comm (field 2) may hold spaces and ')': fields resume after the last ')'.
    static func parse(_ bytes: [UInt8]) -> ProcStat? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var field = 3
        var state: UInt8? = nil
        for token in bytes[(close + 1)...].split(whereSeparator: { $0 == 0x20 || $0 == 0x0a }) {
            if field == 3 {
                guard token.count == 1 else { return nil }
                state = token.first
            } else if field == 22 {
                guard let state, let value = parseDecimal(token) else { return nil }
                return ProcStat(state: state, startTime: value)
            }
            field += 1
        }
        return nil
    }
}

/// Unsigned decimal digits, nil on anything else or overflow.
func parseDecimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
    guard !digits.isEmpty, digits.count <= 20 else { return nil }
    var value: UInt64 = 0
    for d in digits {
        guard d >= 0x30, d <= 0x39 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(d - 0x30))
        if o1 || o2 { return nil }
        value = s
    }
    return value
}
