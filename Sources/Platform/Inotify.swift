import CPlatform
import Glibc
import SystemPackage

/// An inotify instance (non-blocking, close-on-exec). Owns its fd, closed
/// by deinit once nothing holds it.
public final class Inotify: Sendable {
    public let fd: Int32

    public init() throws(Errno) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        self.fd = fd
    }

    /// Watches `path` (never following a final symlink); returns the watch
    /// descriptor. The kernel returns the same descriptor for the same inode.
    public func addWatch(_ path: String, mask: UInt32) throws(SystemError) -> Int32 {
        let wd = inotify_add_watch(fd, path, mask | UInt32(IN_DONT_FOLLOW))
        guard wd >= 0 else { throw SystemError.last("inotify_add_watch", path: path) }
        return wd
    }

    /// EINVAL (already gone: the file was removed) is not an error here.
    public func removeWatch(_ wd: Int32) {
        _ = inotify_rm_watch(fd, wd)
    }

    /// Reads every queued event and calls `body(wd, mask)` for each; stops at
    /// EAGAIN. Names are skipped (watches here are on files, not directories).
    public func drain(_ body: (Int32, UInt32) -> Void) {
        // Aligned for struct inotify_event; room for many events per read.
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { buffer in
            while true {
                let n = retryingEINTR { read(fd, buffer.baseAddress, buffer.count) }
                guard n > 0 else { return }
                var offset = 0
                let header = MemoryLayout<inotify_event>.size
                while offset + header <= n {
                    let event = buffer.baseAddress!.advanced(by: offset).loadUnaligned(as: inotify_event.self)
                    body(event.wd, event.mask)
                    offset += header + Int(event.len)
                }
            }
        }
    }

    deinit { _ = Glibc.close(fd) }
}
