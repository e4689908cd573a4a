import Glibc
import SystemPackage

/// A failed system call: its errno, the call, and the path it was given
/// (crun's {status, msg}). `description` is what the ABI's one log line of a
/// failed call ends with: "open /var/lib/isulad/garbage.json: Permission denied".
/// `errno` is what C callers get back, unchanged.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public var errno: Errno
    /// The syscall (or step) that failed, e.g. "open", "mkfifo"; empty when
    /// the error is a refused argument with no call behind it.
    public var operation: String
    public var path: String?

    public init(_ errno: Errno, _ operation: String = "", path: String? = nil) {
        self.errno = errno
        self.operation = operation
        self.path = path
    }

    /// The calling thread's errno, named.
    public static func last(_ operation: String, path: String? = nil) -> SystemError {
        SystemError(Errno(rawValue: Glibc.errno), operation, path: path)
    }

    /// "operation path: strerror", "operation: strerror" or "strerror".
    public var description: String {
        var what = operation
        if let path { what += what.isEmpty ? path : " " + path }
        return what.isEmpty ? errno.description : what + ": " + errno.description
    }
}

/// Names an errno-throwing step: its error becomes a `SystemError` for
/// `operation` on `path`.
@inlinable
public func named<R>(_ operation: String, path: String? = nil, _ body: () throws(Errno) -> R) throws(SystemError) -> R {
    do { return try body() } catch { throw SystemError(error, operation, path: path) }
}
