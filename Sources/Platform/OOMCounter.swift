import Glibc
import SystemPackage

/// Where a cgroup's OOM-kill counter lives, and how the kernel signals it.
public enum OOMSource: Sendable, Equatable {
    /// cgroup v2: `memory.events` (counts descendants too); inotify IN_MODIFY
    /// on it is the kernel's notification.
    case v2(events: String)
    /// cgroup v1: the memory cgroup directory; `memory.oom_control` holds the
    /// counter and `cgroup.event_control` registers an eventfd for OOM events.
    case v1(directory: String)

    /// The file whose `oom_kill` line is the counter.
    public var counterFile: String {
        switch self {
        case let .v2(events): return events
        case let .v1(directory): return directory + "/memory.oom_control"
        }
    }
}

public enum OOMCounter {
    /// The value of the `oom_kill N` line (v2 memory.events and v1
    /// memory.oom_control both have one); nil when there is none.
    public static func parse(_ bytes: [UInt8]) -> UInt64? {
        let key = Array("oom_kill ".utf8)
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            if lineEnd - lineStart > key.count && bytes[lineStart..<(lineStart + key.count)].elementsEqual(key) {
                var value: UInt64 = 0
                var digits = 0
                for b in bytes[(lineStart + key.count)..<lineEnd] {
                    guard b >= 0x30 && b <= 0x39 else { return nil }
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (a, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
                    if o1 || o2 { return nil }
                    value = a
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            lineStart = lineEnd + 1
        }
        return nil
    }

    /// Reads the counter of `source`: nil when the file has no `oom_kill`
    /// line (v1 kernels before 4.13).
    public static func read(_ source: OOMSource) throws(SystemError) -> UInt64? {
        parse(try KernelFile.read(source.counterFile, limit: 4096))
    }

    /// The OOM counter of cgroup `relative` (relative to each hierarchy
    /// root): the v2 hierarchy when it has the memory controller there, else
    /// the v1 memory hierarchy. nil: no memory controller for that cgroup.
    public static func locate(_ relative: String, in hierarchies: [CgroupHierarchy]) -> OOMSource? {
        for h in hierarchies where h.isV2 {
            let events = h.mountPoint + "/" + relative + "/memory.events"
            if access(events, F_OK) == 0 { return .v2(events: events) }
        }
        for h in hierarchies where !h.isV2 && h.controllers.contains("memory") {
            let dir = h.mountPoint + "/" + relative
            if access(dir + "/memory.oom_control", F_OK) == 0 { return .v1(directory: dir) }
        }
        return nil
    }

    /// Registers `eventfd` for OOM notifications of the v1 memory cgroup
    /// `directory` (the kernel keeps what it needs; the control fd is closed).
    public static func registerV1(eventfd: Int32, directory: String) throws(SystemError) {
        let control = try FileIO.open(directory + "/memory.oom_control", O_RDONLY | O_NOFOLLOW)
        defer { close(control) }
        try KernelFile.write(directory + "/cgroup.event_control", "\(eventfd) \(control)")
    }
}
