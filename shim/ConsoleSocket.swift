import CShim

/// runc's --console-socket: a unix socket runc connects to during create to
/// hand over the pty master with SCM_RIGHTS (cmsghdr in C: cs_recv_fd).
enum ConsoleSocket {
    static func listen(path: String) throws(ShimError) -> UnixListener {
        do throws(Errno) { return try UnixListener(path: path, mode: 0o600, backlog: 1) } catch {
            throw ShimError("console socket \(path): \(error)")
        }
    }

    /// Accepts runc's connection and receives the pty master.
    static func receiveMaster(_ listener: borrowing UnixListener) throws(ShimError) -> FD {
        let conn: FD
        do throws(Errno) { conn = try listener.accept() } catch {
            throw ShimError("console socket accept: \(error)")
        }
        let master = cs_recv_fd(conn.raw)
        guard master >= 0 else {
            if cs_errno() == EBADMSG { throw ShimError("console socket: no pty master received") }
            throw ShimError("console socket recvmsg: \(Errno.current)")
        }
        let fd = FD(adopting: master)
        guard cs_is_tty(fd.raw) != 0 else { throw ShimError("console socket: received fd is not a terminal") }
        return fd
    }
}
