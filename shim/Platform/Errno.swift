import CShim

/// A failed system call's errno. The shim's only error currency below the
/// lifecycle (typed throws everywhere: Embedded Swift has no `any Error`).
struct Errno: Error, Equatable, CustomStringConvertible {
    let code: Int32
    init(_ code: Int32) { self.code = code }
    /// The calling thread's errno, right after a failed call.
    static var current: Errno { Errno(cs_errno()) }
    var description: String { String(cString: strerror(code)) }

    static let invalid = Errno(EINVAL)
    static let tooLarge = Errno(EFBIG)
    static let wouldBlock = Errno(EAGAIN)
}

/// The one place EINTR is retried: runs a raw call returning -1 + errno on
/// failure until it is not interrupted; -1 with errno set on failure.
@inline(__always)
func sysRaw(_ call: () -> Int) -> Int {
    while true {
        let r = call()
        if r >= 0 || cs_errno() != EINTR { return r }
    }
}

/// The same, failure thrown.
@inline(__always)
func sys(_ call: () -> Int) throws(Errno) -> Int {
    let r = sysRaw(call)
    if r < 0 { throw Errno.current }
    return r
}

@inline(__always)
func sys32(_ call: () -> Int32) throws(Errno) -> Int32 {
    Int32(truncatingIfNeeded: try sys { Int(call()) })
}
