import Glibc
import SystemPackage

/// The fields of `/proc/<pid>/stat` that identify a process: its state and
/// its start time (field 22, clock ticks since boot). Together with the pid,
/// the start time names one process even after the pid is reused.
public struct ProcStat: Sendable, Equatable {
    /// Field 3: R, S, D, Z, T, t, X, x, I, …
    public var state: Character
    /// Field 22: start time in clock ticks since boot.
    public var startTime: UInt64

    public init(state: Character, startTime: UInt64) {
        self.state = state
        self.startTime = startTime
    }

    /// Reads `/proc/<pid>/stat`. ENOENT/ESRCH when the process is gone,
    /// EINVAL when the content cannot be parsed.
    public static func read(pid: Int32) throws(SystemError) -> ProcStat {
        let path = "/proc/\(pid)/stat"
        guard pid > 0 else { throw SystemError(.invalidArgument, "read", path: path) }
        // comm is at most 64 bytes in recent kernels; the whole line is < 1 KiB.
        let bytes = try KernelFile.read(path, limit: 4096)
        guard let stat = parse(bytes[...]) else { throw SystemError(.invalidArgument, "parse", path: path) }
        return stat
    }

    /// Parses the content of a stat file. The comm field (2) is in
    /// parentheses and may itself hold spaces and ')': the fields after it
    /// start after the *last* ')' of the line.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> ProcStat? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after comm, 1-based from field 3 (state).
        var field = 3
        var index = close + 1
        var state: Character?
        while index < bytes.endIndex {
            while index < bytes.endIndex && bytes[index] == UInt8(ascii: " ") { index += 1 }
            guard index < bytes.endIndex else { break }
            let start = index
            while index < bytes.endIndex && bytes[index] != UInt8(ascii: " ") && bytes[index] != UInt8(ascii: "\n") {
                index += 1
            }
            let token = bytes[start..<index]
            if field == 3 {
                guard token.count == 1 else { return nil }
                state = Character(Unicode.Scalar(token[token.startIndex]))
            } else if field == 22 {
                guard let state, let value = parseUInt64(token) else { return nil }
                return ProcStat(state: state, startTime: value)
            }
            if index < bytes.endIndex && bytes[index] == UInt8(ascii: "\n") { break }
            field += 1
        }
        return nil
    }

    static func parseUInt64(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            value = s
        }
        return value
    }
}
