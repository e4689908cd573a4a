import Glibc
import Platform

/// What `supervisor_track_resource` records; raw values are the C enum's.
public enum ResourceKind: Int32, Sendable, CaseIterable {
    case cgroup = 1, mount = 2, path = 3, runtime = 4

    /// The name used in garbage.json's extra keys and in status JSON.
    public var name: String {
        switch self {
        case .cgroup: return "cgroup"
        case .mount: return "mount"
        case .path: return "path"
        case .runtime: return "runtime"
        }
    }

    public init?(name: String) {
        guard let k = ResourceKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }
}

/// One resource of a container, released by the built-in cleaner.
public struct TrackedResource: Sendable, Equatable {
    public var kind: ResourceKind
    public var value: String
    /// Failed attempts that met EBUSY, accumulated across attempts and restarts
    /// (mounts switch to a lazy detach after `mount_detach_after`).
    public var busyCount: Int

    public init(kind: ResourceKind, value: String, busyCount: Int = 0) {
        self.kind = kind
        self.value = value
        self.busyCount = busyCount
    }
}

/// Result of one attempt at releasing one resource.
public enum CleanOutcome: Sendable, Equatable {
    /// Gone (or was never there).
    case released
    /// Still there; worth retrying (EBUSY, a process still inside, ...).
    case retry(String)
    /// Cannot succeed as things stand (a missing capability); still retried
    /// by the GC with backoff, but reported distinctly and logged once.
    case blocked(String)
}

/// What a cleaner needs to know besides the resource itself.
public struct CleanContext: Sendable {
    public var id: String
    public var runtime: String
    /// EBUSY attempts after which a mount is detached lazily (MNT_DETACH).
    public var mountDetachAfter: Int
    /// Bound on one `<runtime> delete` run.
    public var runtimeTimeoutMs: Int

    public init(id: String, runtime: String, mountDetachAfter: Int = 5, runtimeTimeoutMs: Int = 30_000) {
        self.id = id
        self.runtime = runtime
        self.mountDetachAfter = mountDetachAfter
        self.runtimeTimeoutMs = runtimeTimeoutMs
    }
}
