import Diagnostics
import Glibc
import Platform
import SystemPackage

extension BuiltinCleaner {
    /// Stacked mounts on one point are unmounted one by one; this bounds it.
    static let maxStackedMounts = 256

    /// umount2 until the path is no longer a mount point. EINVAL (not a
    /// mount) and ENOENT are done; EBUSY counts towards a lazy detach after
    /// `mountDetachAfter` busy attempts. Mounts below the path are unmounted
    /// first (deepest first) so they do not keep it busy.
    func releaseMount(_ resource: inout TrackedResource, context: CleanContext) -> CleanOutcome {
        let path = resource.value
        guard capabilities.has(.sysAdmin) else { return .blocked("needs CAP_SYS_ADMIN to unmount \(path)") }
        unmountSubmounts(of: path)
        var unmounted = 0
        while unmounted < Self.maxStackedMounts {
            if umount2(path, Int32(UMOUNT_NOFOLLOW)) == 0 {
                unmounted += 1
                continue
            }
            let e = errno
            switch e {
            case EINTR:
                continue
            case EINVAL, ENOENT:
                return .released
            case EBUSY:
                resource.busyCount += 1
                guard resource.busyCount >= max(context.mountDetachAfter, 1) else {
                    return .retry("\(SystemError(.resourceBusy, "umount", path: path)) (\(resource.busyCount) of \(context.mountDetachAfter) before a lazy detach)")
                }
                guard umount2(path, Int32(MNT_DETACH) | Int32(UMOUNT_NOFOLLOW)) == 0 else {
                    let d = errno
                    if d == EINVAL || d == ENOENT { return .released }
                    return .retry(SystemError(Errno(rawValue: d), "umount (MNT_DETACH)", path: path).description)
                }
                Log.warning("container \(context.id): \(path) still busy after \(resource.busyCount) attempts; detached lazily (MNT_DETACH)")
                unmounted += 1
            case EPERM:
                return .blocked(SystemError(.notPermitted, "umount", path: path).description)
            default:
                return .retry(SystemError(Errno(rawValue: e), "umount", path: path).description)
            }
        }
        return .retry("umount \(path): still mounted after \(unmounted) unmounts")
    }

    /// Best effort: a failure here shows up as EBUSY on the path itself.
    /// Only when the path is itself a mount point (a tracked directory that
    /// is not mounted is released as "not a mount" without touching others).
    private func unmountSubmounts(of path: String) {
        guard let mounts = try? MountInfo.read() else { return }
        let clean = MountInfo.lexicallyClean(path)
        guard mounts.contains(where: { $0.mountPoint == clean }) else { return }
        for m in mounts.reversed() where m.mountPoint.hasPrefix(clean + "/") {
            if umount2(m.mountPoint, Int32(UMOUNT_NOFOLLOW)) == 0 {
                Log.debug("unmounted \(m.mountPoint) below \(path)")
            }
        }
    }
}
