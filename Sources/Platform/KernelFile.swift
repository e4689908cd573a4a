import Glibc
import SystemPackage

/// Small kernel-provided files (/proc, cgroupfs): read whole, written at once.
public enum KernelFile {
    /// Reads up to `limit` bytes of `path` (relative to `dirfd` when given),
    /// never following a final symlink. Longer content is EFBIG.
    public static func read(at dirfd: Int32 = AT_FDCWD, _ path: String, limit: Int = 1 << 20,
                            display: String? = nil) throws(SystemError) -> [UInt8] {
        let fd = try FileIO.open(at: dirfd, path, O_RDONLY | O_NOFOLLOW, display: display)
        defer { close(fd) }
        return try named("read", path: display ?? path) { () throws(Errno) in try FileIO.readAll(fd, limit: limit) }
    }

    /// Writes `text` with one write(2), as cgroupfs control files expect.
    public static func write(at dirfd: Int32 = AT_FDCWD, _ path: String, _ text: String,
                             display: String? = nil) throws(SystemError) {
        let fd = try FileIO.open(at: dirfd, path, O_WRONLY | O_NOFOLLOW, display: display)
        defer { close(fd) }
        var bytes = Array(text.utf8)
        let n = bytes.withUnsafeMutableBytes { p in retryingEINTR { Glibc.write(fd, p.baseAddress, p.count) } }
        if n < 0 { throw SystemError.last("write", path: display ?? path) }
    }
}
