import SystemPackage

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

    public static func hierarchies() throws(SystemError) -> [CgroupHierarchy] {
        hierarchies(in: try MountInfo.read())
    }
}
