import CPlatform
import Glibc
import SystemPackage

/// Exit FIFOs: the shim writes the container's status into one, the
/// supervisor reads it.
public enum Fifo {
    /// Creates a FIFO with `mode`. An existing FIFO is fine; anything else
    /// already at `path` (a symlink, even to a FIFO, or a file) is EEXIST.
    public static func create(at path: String, mode: mode_t = 0o600) throws(SystemError) {
        if mkfifo(path, mode) == 0 {
            // umask may have narrowed the mode; never widened it.
            _ = chmod(path, mode)
            return
        }
        let failed = SystemError.last("mkfifo", path: path)
        guard failed.errno == .fileExists else { throw failed }
        var st = stat()
        guard lstat(path, &st) == 0 else { throw SystemError.last("lstat", path: path) }
        guard st.st_mode & S_IFMT == S_IFIFO else { throw SystemError(.fileExists, "mkfifo", path: path) }
    }

    /// Opens the read end non-blocking and close-on-exec. A symlink is ELOOP
    /// (O_NOFOLLOW); an object that is not a FIFO is EINVAL.
    public static func openReadEnd(_ path: String) throws(SystemError) -> Int32 {
        let fd = try FileIO.open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW)
        guard isFifo(fd) else {
            close(fd)
            throw SystemError(.invalidArgument, "open (not a FIFO)", path: path)
        }
        return fd
    }

    public static func isFifo(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFIFO
    }
}

/// Result of reading an exit status from a FIFO without blocking.
public enum StatusRead: Equatable, Sendable {
    /// All four bytes arrived.
    case status(Int32)
    /// The writer closed before four bytes: the status is unknown.
    case endOfFile
    /// Nothing more to read for now; keep the partial bytes.
    case pending
    case failed(Errno)
}

/// Accumulates the shim's native-endian 4-byte status across partial reads.
public struct StatusAccumulator: Sendable {
    public private(set) var bytes: UInt32 = 0
    public private(set) var count: UInt8 = 0

    public init() {}

    /// Reads what is available from a non-blocking fd (EINTR retried).
    public mutating func read(from fd: Int32) -> StatusRead {
        while count < 4 {
            var chunk: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
            let want = Int(4 - count)
            let n = withUnsafeMutableBytes(of: &chunk) { p in retryingEINTR { Glibc.read(fd, p.baseAddress, want) } }
            if n > 0 {
                withUnsafeBytes(of: chunk) { raw in
                    for i in 0..<n { append(raw[i]) }
                }
                continue
            }
            if n == 0 { return .endOfFile }
            let err = errno
            if err == EAGAIN { return .pending }
            return .failed(Errno(rawValue: err))
        }
        return .status(value)
    }

    private mutating func append(_ byte: UInt8) {
        withUnsafeMutableBytes(of: &bytes) { $0[Int(count)] = byte }
        count += 1
    }

    /// The status in native byte order, as the shim wrote it.
    public var value: Int32 { Int32(bitPattern: bytes) }
}
