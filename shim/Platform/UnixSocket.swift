import CShim

/// A listening AF_UNIX stream socket bound at `path` (close-on-exec).
struct UnixListener: ~Copyable {
    let fd: FD
    let path: String

    /// Binds (replacing a stale socket file), sets `mode`, listens.
    /// `bindAs`: the same file named relative to the working directory, for
    /// paths longer than sun_path's 108 bytes.
    init(path: String, bindAs: String? = nil, mode: UInt32, backlog: Int32) throws(Errno) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array((bindAs ?? path).utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw Errno(ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let sock = FD(adopting: try sys32 {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        })
        _ = unlink(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(sock.raw, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else { throw Errno.current }
        guard chmod(path, mode_t(mode)) == 0, listen(sock.raw, backlog) == 0 else {
            let e = Errno.current
            _ = unlink(path)
            throw e
        }
        fd = sock
        self.path = path
    }

    /// One pending connection, close-on-exec (non-blocking when asked).
    func accept(nonBlocking: Bool = false) throws(Errno) -> FD {
        let l = fd.raw
        return FD(adopting: try sys32 { cs_accept(l, nonBlocking ? 1 : 0) })
    }

    /// Closes the socket and removes its name.
    consuming func dispose() {
        _ = unlink(path)
    }
}
