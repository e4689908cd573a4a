import CPlatform
import Glibc
import SystemPackage

/// Small kernel-provided files (/proc, cgroupfs): read whole, written at once.
public enum KernelFile {
    /// Reads up to `limit` bytes of `path` (relative to `dirfd` when given),
    /// never following a final symlink.
    public static func read(at dirfd: Int32 = AT_FDCWD, _ path: String, limit: Int = 1 << 20) throws(Errno) -> [UInt8] {
        let fd = cp_openat(dirfd, path, O_RDONLY | O_NOFOLLOW, 0)
        guard fd >= 0 else { throw Errno(rawValue: cp_errno()) }
        defer { close(fd) }
        return try readAll(fd, limit: limit)
    }

    /// Reads from the current offset to EOF (or `limit` bytes).
    public static func readAll(_ fd: Int32, limit: Int = 1 << 20) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
            if n > 0 { out.append(contentsOf: buffer[0..<n]); continue }
            if n == 0 { break }
            if cp_errno() == EINTR { continue }
            throw Errno(rawValue: cp_errno())
        }
        return out
    }

    /// Writes `text` with one write(2), as cgroupfs control files expect.
    public static func write(at dirfd: Int32 = AT_FDCWD, _ path: String, _ text: String) throws(Errno) {
        let fd = cp_openat(dirfd, path, O_WRONLY | O_NOFOLLOW, 0)
        guard fd >= 0 else { throw Errno(rawValue: cp_errno()) }
        defer { close(fd) }
        var bytes = Array(text.utf8)
        while true {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return }
            if cp_errno() == EINTR { continue }
            throw Errno(rawValue: cp_errno())
        }
    }
}

/// A mounted cgroup hierarchy: one per v1 controller set, plus the v2 one.
public struct CgroupHierarchy: Sendable, Equatable {
    public var mountPoint: String
    public var isV2: Bool
    /// v1: the controllers bound to it (`memory`, `freezer`, `name=systemd`...).
    public var controllers: [String]

    public init(mountPoint: String, isV2: Bool, controllers: [String]) {
        self.mountPoint = mountPoint
        self.isV2 = isV2
        self.controllers = controllers
    }

    public var hasFreezer: Bool { !isV2 && controllers.contains("freezer") }
}

public enum CgroupFS {
    /// Every mounted cgroup hierarchy, each once (a hierarchy mounted twice
    /// shares its device number; the mount of its root is preferred).
    public static func hierarchies(in mounts: [MountEntry]) -> [CgroupHierarchy] {
        var chosen: [String: (MountEntry, CgroupHierarchy)] = [:]
        var order: [String] = []
        for m in mounts where m.fsType == "cgroup" || m.fsType == "cgroup2" {
            let key = "\(m.major):\(m.minor)"
            let v2 = m.fsType == "cgroup2"
            let controllers = v2 ? [] : m.superOptions.split(separator: ",").map(String.init)
                .filter { !["rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children", "xattr"].contains($0) }
            let h = CgroupHierarchy(mountPoint: m.mountPoint, isV2: v2, controllers: controllers)
            if let existing = chosen[key] {
                if existing.0.root != "/" && m.root == "/" { chosen[key] = (m, h) }
            } else {
                chosen[key] = (m, h)
                order.append(key)
            }
        }
        return order.compactMap { chosen[$0]?.1 }
    }

    public static func hierarchies() throws(Errno) -> [CgroupHierarchy] {
        hierarchies(in: try MountInfo.read())
    }
}
