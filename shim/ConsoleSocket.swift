import CPlatform
import Glibc
import Platform
import SystemPackage

/// runc's --console-socket: a unix socket runc connects to during create to
/// hand over the pty master with SCM_RIGHTS.
struct ConsoleSocket {
    let listenFD: Int32
    let path: String

    init(path: String) throws(ShimError) {
        self.path = path
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw ShimError("console socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ShimError("console socket: \(Errno(rawValue: cp_errno()))") }
        _ = unlink(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0, listen(fd, 1) == 0 else {
            let e = Errno(rawValue: cp_errno())
            Glibc.close(fd)
            throw ShimError("console socket \(path): \(e)")
        }
        listenFD = fd
    }

    /// Accepts runc's connection and receives the pty master.
    func receiveMaster() throws(ShimError) -> Int32 {
        // accept4 is not in the Glibc module; the shim is single-threaded, so
        // nothing can exec between accept and setting FD_CLOEXEC.
        let conn = accept(listenFD, nil, nil)
        guard conn >= 0 else { throw ShimError("console socket accept: \(Errno(rawValue: cp_errno()))") }
        _ = cp_fcntl_setfd_cloexec(conn)
        defer { Glibc.close(conn) }
        // cmsghdr (16 bytes on LP64) + one int, padded: CMSG_SPACE(4) = 24.
        var control = [UInt64](repeating: 0, count: 3)
        var data = [UInt8](repeating: 0, count: 4096)
        let received: Int = data.withUnsafeMutableBytes { dp in
            control.withUnsafeMutableBytes { cp in
                var iov = iovec(iov_base: dp.baseAddress, iov_len: dp.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr()
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    msg.msg_control = cp.baseAddress
                    msg.msg_controllen = cp.count
                    return recvmsg(conn, &msg, Int32(MSG_CMSG_CLOEXEC))
                }
            }
        }
        guard received >= 0 else { throw ShimError("console socket recvmsg: \(Errno(rawValue: cp_errno()))") }
        // cmsg_len (8), cmsg_level (4), cmsg_type (4), then the fd.
        let level = Int32(truncatingIfNeeded: control[1])
        let type = Int32(truncatingIfNeeded: control[1] >> 32)
        guard control[0] >= 20, level == SOL_SOCKET, type == Int32(SCM_RIGHTS) else {
            throw ShimError("console socket: no pty master received")
        }
        let master = Int32(truncatingIfNeeded: control[2])
        var term = termios()
        guard master >= 0, tcgetattr(master, &term) == 0 else {
            if master >= 0 { Glibc.close(master) }
            throw ShimError("console socket: received fd is not a terminal")
        }
        return master
    }

    func dispose() {
        _ = Glibc.close(listenFD)
        _ = unlink(path)
    }
}
