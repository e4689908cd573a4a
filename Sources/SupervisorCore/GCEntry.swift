import Cleaner
import Platform

/// A container's processes as the engine described them (pid_ppid_info_t).
public struct PidInfo: Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    public var startTime: UInt64
    public var pstartTime: UInt64

    public init(pid: Int32, ppid: Int32, startTime: UInt64, pstartTime: UInt64) {
        self.pid = pid
        self.ppid = ppid
        self.startTime = startTime
        self.pstartTime = pstartTime
    }
}

/// One container in the GC list as garbage.json holds it: what iSulad
/// stores, plus this library's extras (tracked resources, attempts) and any
/// keys another writer added. Only persisted fields: scheduling lives in
/// the list's slot (GCList).
struct GCEntry: Sendable {
    var id: String
    var runtime: String
    var info: PidInfo
    var resources: [TrackedResource]
    /// The engine's clean_resource hook has succeeded once; not run again.
    var engineReleased = false
    var attempts = 0
    var lastError: String?
    /// Keys of the entry this library does not interpret, kept on rewrite.
    var unknownKeys: [(String, JSONValue)] = []

    init(id: String, runtime: String, info: PidInfo, resources: [TrackedResource]) {
        self.id = id
        self.runtime = runtime
        self.info = info
        self.resources = resources
    }
}
