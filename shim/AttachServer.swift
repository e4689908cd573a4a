import CShim

/// The attach socket (`attach_socket` in process.json), served as iSulad's
/// own shim serves it so an engine's `attach` works with either shim:
///
/// - a SOCK_STREAM unix socket, mode 0600, backlog 16, bound before the
///   container starts, accepted in the shim's one event loop;
/// - a client writes one message, `<stdin> <stdout> <stderr>`: three absolute
///   FIFO paths separated by single spaces (at most 8 KiB);
/// - each path, resolved, must lie inside the shim's state directory and be
///   a FIFO of mode exactly 0600 owned by the shim's uid; at most 16 clients
///   are attached at once;
/// - the answer is a native 4-byte int: 0 attached, -1 refused (the shim's
///   log says why). The connection stays open until the client closes it.
///
/// Attached clients get every byte of the container's output on their
/// stdout/stderr FIFOs; what they write into their stdin FIFO goes to the
/// container's stdin (with open_stdin or a tty). A client that falls more
/// than 64 KiB behind its full FIFO (it stopped reading) is dropped for that
/// stream, never waited for; one that closes its FIFOs is detached. The
/// server's fds are owned here.
final class AttachServer {
    static let maxClients = 16
    /// Connections still talking (handshake or idle after the answer).
    static let maxConnections = 32
    static let maxMessage = 8192
    /// Output held for a client that is behind, per stream, on top of its
    /// FIFO's own 64 KiB; past it the client is dropped for that stream.
    static let maxPending = 64 * 1024

    private final class Connection {
        let id: UInt64
        let fd: Int32
        init(id: UInt64, fd: Int32) { self.id = id; self.fd = fd }
        deinit { _ = close(fd) }
    }

    /// One attached client: its stdin FIFO (read end) and out/err FIFOs
    /// (write ends); -1 once closed. Output its FIFO could not take yet
    /// waits in `pending` (at most `maxPending` per stream).
    private final class Client {
        let id: UInt64
        var fds: [Int32]
        var pending: [[UInt8]] = [[], [], []]
        init(id: UInt64, fds: [Int32]) { self.id = id; self.fds = fds }
        var isEmpty: Bool { fds[1] < 0 && fds[2] < 0 && fds[0] < 0 }
        deinit { for fd in fds where fd >= 0 { _ = close(fd) } }
    }

    private enum Role: UInt64 { case connection = 0, stdin = 1, stdout = 2, stderr = 3 }

    private let listener: UnixListener
    private let workDir: String
    private var connections: [Connection] = []
    private var clients: [Client] = []
    private var nextID: UInt64 = 1
    private var stdinPaused = false

    private init(listener: consuming UnixListener, workDir: String) {
        self.listener = listener
        self.workDir = workDir
    }

    /// Binds the socket and registers it with the loop.
    static func start(_ loop: IOLoop, path: String, workDir: String) throws(ShimError) {
        // Inside the state dir (the working directory) it is bound by its
        // relative name: a long state path does not hit sun_path's limit.
        var relative: String? = nil
        let prefix = Array((workDir + "/").utf8), bytes = Array(path.utf8)
        if bytes.starts(with: prefix), !bytes[prefix.count...].contains(UInt8(ascii: "/")) {
            relative = String(decoding: bytes[prefix.count...], as: UTF8.self)
        }
        let listener: UnixListener
        do throws(Errno) { listener = try UnixListener(path: path, bindAs: relative, mode: 0o600, backlog: 16) } catch {
            throw ShimError("attach socket \(path): \(error)")
        }
        let raw = listener.fd.raw
        let server = AttachServer(listener: listener, workDir: workDir)
        do throws(Errno) { try loop.epoll.add(raw, events: Epoll.input, tag: IOLoop.Tag.attachListener.rawValue) } catch {
            throw ShimError("watch attach socket: \(error)")
        }
        loop.attach = server
    }

    private func tag(_ id: UInt64, _ role: Role) -> UInt64 { IOLoop.clientTagBase + (id << 2 | role.rawValue) }

    // MARK: connections

    func accept(_ loop: IOLoop) {
        let conn: FD
        do throws(Errno) { conn = try listener.accept(nonBlocking: true) } catch {
            if error != .wouldBlock { ShimLog.warning("attach socket accept: \(error)") }
            return
        }
        guard connections.count < Self.maxConnections else {
            ShimLog.warning("attach: \(Self.maxConnections) connections open, connection refused")
            return
        }
        let id = nextID
        nextID += 1
        let raw = conn.release()
        let c = Connection(id: id, fd: raw)
        do throws(Errno) { try loop.epoll.add(raw, events: Epoll.input, tag: tag(id, .connection)) } catch {
            ShimLog.warning("attach: watch connection: \(error)")
            return
        }
        connections.append(c)
    }

    func handle(_ loop: IOLoop, tag: UInt64, events: UInt32) {
        let id = tag >> 2
        switch Role(rawValue: tag & 3)! {
        case .connection: connectionEvent(loop, id: id)
        case .stdin: clientStdin(loop, id: id, events: events)
        case .stdout: streamEvent(loop, id: id, stream: 1, events: events)
        case .stderr: streamEvent(loop, id: id, stream: 2, events: events)
        }
    }

    private func connectionEvent(_ loop: IOLoop, id: UInt64) {
        guard let i = connections.firstIndex(where: { $0.id == id }) else { return }
        let conn = connections[i]
        var message = [UInt8](repeating: 0, count: Self.maxMessage + 1)
        var n = 0
        do throws(Errno) { n = try FDIO.read(conn.fd, into: &message, limit: message.count) } catch {
            if error == .wouldBlock { return }
        }
        if n == 0 {
            // The client closed (or failed): done with this connection.
            loop.epoll.remove(conn.fd)
            connections.remove(at: i)
            return
        }
        let status: Int32 = attach(loop, Array(message[0..<n])) ? 0 : -1
        var answer = status
        withUnsafeBytes(of: &answer) { p in
            do throws(Errno) { try FDIO.writeAll(conn.fd, p) } catch {
                ShimLog.warning("attach: answer: \(error)")
            }
        }
        // The rest of an oversized message is not read as a second one.
        if n > Self.maxMessage {
            loop.epoll.remove(conn.fd)
            connections.remove(at: i)
        }
    }

    // MARK: the message

    /// Checks the message and attaches its FIFOs; false (logged) when refused.
    private func attach(_ loop: IOLoop, _ raw: [UInt8]) -> Bool {
        guard raw.count <= Self.maxMessage else {
            ShimLog.error("attach refused: message longer than \(Self.maxMessage) bytes")
            return false
        }
        var message = raw
        while let last = message.last, last == 0 || last == 0x0a { message.removeLast() }
        guard clients.count < Self.maxClients else {
            ShimLog.error("attach refused: \(Self.maxClients) clients already attached")
            return false
        }
        let parts = message.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            ShimLog.error("attach refused: expected \"<stdin> <stdout> <stderr>\", got \(parts.count) fields")
            return false
        }
        var resolved: [String] = []
        for part in parts {
            guard let path = checkedFIFO(String(decoding: part, as: UTF8.self)) else { return false }
            resolved.append(path)
        }
        var fds: [Int32] = [-1, -1, -1]
        let flags = [O_RDONLY, O_WRONLY, O_WRONLY]
        for k in 0..<3 {
            let fd = cs_open(resolved[k], flags[k] | O_NONBLOCK | O_NOFOLLOW, 0)
            guard fd >= 0, FDIO.isFIFO(fd) else {
                ShimLog.error("attach refused: open \(resolved[k]): \(fd < 0 ? Errno.current : Errno.invalid)")
                if fd >= 0 { _ = close(fd) }
                for f in fds where f >= 0 { _ = close(f) }
                return false
            }
            fds[k] = fd
        }
        let id = nextID
        nextID += 1
        let client = Client(id: id, fds: fds)
        // Write ends are watched for errors only: EPOLLERR when the reader
        // closes its end (the client went away).
        if !stdinPaused { try? loop.epoll.add(fds[0], events: Epoll.input, tag: tag(id, .stdin)) }
        try? loop.epoll.add(fds[1], events: 0, tag: tag(id, .stdout))
        try? loop.epoll.add(fds[2], events: 0, tag: tag(id, .stderr))
        clients.append(client)
        ShimLog.info("attach: client \(id) attached (\(clients.count) of \(Self.maxClients))")
        return true
    }

    /// The resolved path when `path` passes iSulad's checks, nil (logged) when not.
    private func checkedFIFO(_ path: String) -> String? {
        guard path.utf8.first == UInt8(ascii: "/"), path.utf8.count < Int(PATH_MAX) else {
            ShimLog.error("attach refused: \"\(path)\" is not an absolute path")
            return nil
        }
        guard let real = realpath(path, nil) else {
            ShimLog.error("attach refused: resolve \(path): \(Errno.current)")
            return nil
        }
        let resolved = String(cString: real)
        free(real)
        let prefix = Array((workDir + "/").utf8)
        guard Array(resolved.utf8).starts(with: prefix) else {
            ShimLog.error("attach refused: \(resolved) is outside the state directory \(workDir)")
            return nil
        }
        var st = stat()
        guard lstat(resolved, &st) == 0 else {
            ShimLog.error("attach refused: lstat \(resolved): \(Errno.current)")
            return nil
        }
        guard cs_s_isfifo(st.st_mode) != 0 else {
            ShimLog.error("attach refused: \(resolved) is not a FIFO")
            return nil
        }
        guard st.st_mode & 0o777 == 0o600 else {
            ShimLog.error("attach refused: \(resolved) has mode \(st.st_mode & 0o777), not 0600")
            return nil
        }
        guard st.st_uid == geteuid() else {
            ShimLog.error("attach refused: \(resolved) is not owned by uid \(geteuid())")
            return nil
        }
        return resolved
    }

    // MARK: attached clients

    private func client(_ id: UInt64) -> Client? {
        for c in clients where c.id == id { return c }
        return nil
    }

    private func closeStream(_ loop: IOLoop, _ c: Client, _ k: Int) {
        guard c.fds[k] >= 0 else { return }
        loop.epoll.remove(c.fds[k])
        _ = close(c.fds[k])
        c.fds[k] = -1
        c.pending[k] = []
    }

    private func detach(_ loop: IOLoop, _ c: Client, reason: String) {
        for k in 0..<3 { closeStream(loop, c, k) }
        clients.removeAll(where: { $0 === c })
        ShimLog.info("attach: client \(c.id) detached (\(reason))")
    }

    /// Room in a client's FIFO for what it is behind on, or its reader
    /// closed the FIFO (EPOLLERR).
    private func streamEvent(_ loop: IOLoop, id: UInt64, stream k: Int, events: UInt32) {
        guard let c = client(id), c.fds[k] >= 0 else { return }
        if events & UInt32(EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            closeStream(loop, c, k)
            if c.fds[1] < 0 && c.fds[2] < 0 { detach(loop, c, reason: "closed its FIFOs") }
            return
        }
        guard !c.pending[k].isEmpty else { return }
        let written = (try? FDIO.writeSome(c.fds[k], c.pending[k])) ?? -1
        if written < 0 {
            dropStream(loop, c, k, why: "went away")
            return
        }
        c.pending[k].removeFirst(written)
        if c.pending[k].isEmpty {
            c.pending[k] = []
            try? loop.epoll.modify(c.fds[k], events: 0, tag: tag(c.id, k == 1 ? .stdout : .stderr))
        }
    }

    private func dropStream(_ loop: IOLoop, _ c: Client, _ k: Int, why: String) {
        ShimLog.warning("attach: client \(c.id) \(why), dropped for \(k == 1 ? "stdout" : "stderr")")
        closeStream(loop, c, k)
    }

    private func clientStdin(_ loop: IOLoop, id: UInt64, events: UInt32) {
        guard let c = client(id), c.fds[0] >= 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n: Int
        do throws(Errno) { n = try FDIO.read(c.fds[0], into: &chunk, limit: chunk.count) } catch {
            if error == .wouldBlock { return }
            detach(loop, c, reason: "stdin: \(error)")
            return
        }
        if n == 0 {
            // Its writer went away: the client is gone (as iSulad's shim does).
            detach(loop, c, reason: "closed its stdin")
            return
        }
        _ = chunk.withUnsafeBytes { loop.writeStdin(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// While the container's stdin is full, no client's stdin is read.
    func pauseStdin(_ loop: IOLoop, _ paused: Bool) {
        guard paused != stdinPaused else { return }
        stdinPaused = paused
        for c in clients where c.fds[0] >= 0 {
            if paused { loop.epoll.remove(c.fds[0]) }
            else { try? loop.epoll.add(c.fds[0], events: Epoll.input, tag: tag(c.id, .stdin)) }
        }
    }

    /// Container output to every client's FIFO for the stream, never
    /// blocking: what a FIFO cannot take waits (bounded) until it has room;
    /// a client more than `maxPending` behind is dropped for that stream.
    func broadcast(_ loop: IOLoop, stream: Int, _ chunk: UnsafeRawBufferPointer) {
        let k = stream + 1
        for c in clients where c.fds[k] >= 0 {
            if !c.pending[k].isEmpty {
                if c.pending[k].count + chunk.count > Self.maxPending {
                    dropStream(loop, c, k, why: "is not reading")
                } else {
                    c.pending[k].append(contentsOf: chunk)
                }
                continue
            }
            let written = (try? FDIO.writeSome(c.fds[k], chunk)) ?? -1
            if written == chunk.count { continue }
            if written < 0 {
                dropStream(loop, c, k, why: "went away")
                continue
            }
            c.pending[k] = Array(UnsafeRawBufferPointer(rebasing: chunk[written...]))
            try? loop.epoll.modify(c.fds[k], events: Epoll.output, tag: tag(c.id, k == 1 ? .stdout : .stderr))
        }
        clients.removeAll(where: { $0.isEmpty })
    }

    /// What a client is behind on, once more without waiting, then EOF.
    private func finishStream(_ loop: IOLoop, _ c: Client, _ k: Int) {
        if c.fds[k] >= 0 && !c.pending[k].isEmpty { _ = try? FDIO.writeSome(c.fds[k], c.pending[k]) }
        closeStream(loop, c, k)
    }

    /// The container's output stream ended: its clients see end of file.
    func outputEnded(_ loop: IOLoop, stream: Int) {
        for c in clients { finishStream(loop, c, stream + 1) }
    }

    /// The container is gone: every client sees EOF, the socket is removed.
    /// Idempotent.
    func closeAll(_ loop: IOLoop) {
        for c in clients {
            for k in 1...2 { finishStream(loop, c, k) }
            detach(loop, c, reason: "container exited")
        }
        connections.removeAll()
        loop.epoll.remove(listener.fd.raw)
        _ = unlink(listener.path)
    }
}
