import Glibc
import SystemPackage

/// Opening files and moving whole buffers through raw fds: the one way the
/// library opens a file (close-on-exec always) and reads one whole.
public enum FileIO {
    /// openat(2) with O_CLOEXEC added; `dirfd` AT_FDCWD for a plain open.
    public static func open(at dirfd: Int32 = AT_FDCWD, _ path: String, _ flags: Int32,
                            mode: mode_t = 0, display: String? = nil) throws(SystemError) -> Int32 {
        let fd = retryingEINTR { openat(dirfd, path, flags | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw SystemError.last("open", path: display ?? path) }
        return fd
    }

    /// The same open for walks that name entries by raw bytes: the fd, or -1
    /// with errno set (the caller decides which errors are outcomes).
    public static func open(at dirfd: Int32, cString path: UnsafePointer<CChar>, _ flags: Int32, mode: mode_t = 0) -> Int32 {
        retryingEINTR { openat(dirfd, path, flags | O_CLOEXEC, mode) }
    }

    /// Writes every byte (swift-system's writeAll: short writes and EINTR
    /// retried). EAGAIN on a non-blocking fd is returned (the caller decides).
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        let failure: Errno? = bytes.withUnsafeBytes { p in
            do throws(Errno) { try writeAll(fd, p); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    public static func writeAll(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws(Errno) {
        do { _ = try FileDescriptor(rawValue: fd).writeAll(p) } catch { throw (error as? Errno) ?? .ioError }
    }

    /// Reads from the current offset to EOF, refusing more than `limit`
    /// bytes (EFBIG). The library's one whole-file read.
    public static func readAll(_ fd: Int32, limit: Int) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        let descriptor = FileDescriptor(rawValue: fd)
        try withUnsafeTemporaryAllocation(byteCount: 8192, alignment: 1) { (chunk) throws(Errno) in
            while true {
                let n: Int
                do { n = try descriptor.read(into: chunk) } catch { throw (error as? Errno) ?? .ioError }
                if n == 0 { return }
                if out.count + n > limit { throw Errno.fileTooLarge }
                out.append(contentsOf: chunk[0..<n])
            }
        }
        return out
    }
}
