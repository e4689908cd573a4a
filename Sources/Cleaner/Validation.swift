import Glibc
import SystemPackage

extension TrackedResource {
    /// Refuses, at `supervisor_track_resource` time, a value the cleaner could
    /// never release safely: EINVAL for an empty value, control characters, a
    /// relative MOUNT/PATH/RUNTIME, an absolute CGROUP, a `..` component, or a
    /// value naming `/` (or, for CGROUP, the hierarchy roots); ENAMETOOLONG at
    /// PATH_MAX bytes or more.
    public static func validate(kind: ResourceKind, value: String) throws(Errno) {
        let bytes = value.utf8
        guard !bytes.isEmpty else { throw Errno.invalidArgument }
        guard bytes.count < Int(PATH_MAX) else { throw Errno.fileNameTooLong }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { throw Errno.invalidArgument }
        let absolute = value.hasPrefix("/")
        switch kind {
        case .cgroup: guard !absolute else { throw Errno.invalidArgument }
        case .mount, .path, .runtime: guard absolute else { throw Errno.invalidArgument }
        }
        let components = value.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains("..") else { throw Errno.invalidArgument }
        // "/", "//", "/./." and, for a cgroup, "." all name a root.
        guard components.contains(where: { $0 != "." }) else { throw Errno.invalidArgument }
    }
}
