import CPlatform
import Glibc
import Synchronization
import SystemPackage

/// Whole-file replacement that a crash cannot tear: the new content goes to
/// a temporary file in the same directory, is fsynced, renamed over the old
/// name, and the directory is fsynced so the rename itself is durable.
public enum AtomicFile {
    private static let counter = Atomic<UInt64>(0)

    /// Replaces `directory/name` with `bytes`, created with exactly `mode`.
    public static func write(_ bytes: [UInt8], directory: String, name: String, mode: mode_t = 0o600) throws(Errno) {
        guard !name.isEmpty, !name.contains("/") else { throw Errno.invalidArgument }
        let dirfd = cp_open(directory, O_RDONLY | O_DIRECTORY, 0)
        guard dirfd >= 0 else { throw Errno(rawValue: cp_errno()) }
        defer { close(dirfd) }
        try write(bytes, directoryFD: dirfd, name: name, mode: mode)
    }

    /// Same, in an already open directory.
    public static func write(_ bytes: [UInt8], directoryFD dirfd: Int32, name: String, mode: mode_t = 0o600) throws(Errno) {
        let serial = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let temp = ".\(name).tmp-\(getpid())-\(serial)"
        let fd = cp_openat(dirfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, UInt32(mode))
        guard fd >= 0 else { throw Errno(rawValue: cp_errno()) }
        var failure: Errno? = nil
        // The umask may have narrowed the mode.
        if fchmod(fd, mode) != 0 { failure = Errno(rawValue: cp_errno()) }
        if failure == nil {
            do throws(Errno) { try FileIO.writeAll(fd, bytes) } catch { failure = error }
        }
        if failure == nil && fsync(fd) != 0 { failure = Errno(rawValue: cp_errno()) }
        if close(fd) != 0 && failure == nil { failure = Errno(rawValue: cp_errno()) }
        if failure == nil && renameat(dirfd, temp, dirfd, name) != 0 { failure = Errno(rawValue: cp_errno()) }
        if let failure {
            _ = unlinkat(dirfd, temp, 0)
            throw failure
        }
        guard fsync(dirfd) == 0 else { throw Errno(rawValue: cp_errno()) }
    }
}

/// Small helpers for complete reads and writes on raw fds.
public enum FileIO {
    /// Writes every byte, looping on short writes and EINTR. EAGAIN on a
    /// non-blocking fd is returned as an error (the caller decides).
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        let failure: Errno? = bytes.withUnsafeBytes { p in
            do throws(Errno) { try writeAll(fd, p); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    public static func writeAll(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws(Errno) {
        var done = 0
        while done < p.count {
            let n = Glibc.write(fd, p.baseAddress! + done, p.count - done)
            if n > 0 { done += n; continue }
            if n < 0 && cp_errno() == EINTR { continue }
            throw Errno(rawValue: n < 0 ? cp_errno() : EIO)
        }
    }

    /// Reads a whole regular file opened at `fd`, refusing more than `limit`
    /// bytes (EFBIG).
    public static func readAll(_ fd: Int32, limit: Int) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 {
                if cp_errno() == EINTR { continue }
                throw Errno(rawValue: cp_errno())
            }
            if out.count + n > limit { throw Errno.fileTooLarge }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}
