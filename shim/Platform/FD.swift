import CShim

/// An open file descriptor with exactly one owner: closed when the owner
/// drops it, or handed on with `release()`. Every fd is close-on-exec.
@frozen
public struct FD: ~Copyable {
    let raw: Int32

    init(adopting raw: Int32) { self.raw = raw }

    /// open(2) with O_CLOEXEC.
    init(open path: String, _ flags: Int32, mode: UInt32 = 0) throws(Errno) {
        raw = try sys32 { cs_open(path, flags, mode) }
    }

    init(openat dir: borrowing FD, _ path: String, _ flags: Int32, mode: UInt32 = 0) throws(Errno) {
        let d = dir.raw
        raw = try sys32 { cs_openat(d, path, flags, mode) }
    }

    deinit { _ = close(raw) }

    /// Gives the descriptor up without closing it.
    consuming func release() -> Int32 {
        let r = raw
        discard self
        return r
    }

    func setNonBlocking() { _ = cs_set_nonblock(raw) }

    var isFIFO: Bool {
        var st = stat()
        return fstat(raw, &st) == 0 && cs_s_isfifo(st.st_mode) != 0
    }

    /// Reads what is there into `buffer` (0: end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        let fd = raw
        return try sys { CShim.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Writes every byte (short writes looped). EAGAIN on a non-blocking fd
    /// is thrown: the caller decides.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        try FDIO.writeAll(raw, bytes)
    }

    func writeAll(_ bytes: [UInt8]) throws(Errno) {
        try FDIO.writeAll(raw, bytes)
    }

    /// Reads to end of file, refusing more than `limit` bytes (EFBIG).
    func readAll(limit: Int) throws(Errno) -> [UInt8] {
        try FDIO.readAll(raw, limit: limit)
    }
}

/// Complete reads and writes on a raw fd the caller keeps owning.
enum FDIO {
    static func isFIFO(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && cs_s_isfifo(st.st_mode) != 0
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        var failure: Errno? = nil
        bytes.withUnsafeBytes { p in
            do throws(Errno) { try writeAll(fd, p) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    static func writeAll(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws(Errno) {
        var done = 0
        while done < p.count {
            let n = try sys { write(fd, p.baseAddress! + done, p.count - done) }
            if n == 0 { throw Errno(EIO) }
            done += n
        }
    }

    /// Writes what fits without blocking: bytes written, fewer than asked
    /// when the other side is full.
    static func writeSome(_ fd: Int32, _ p: UnsafeRawBufferPointer) throws(Errno) -> Int {
        var done = 0
        while done < p.count {
            let n = sysRaw { write(fd, p.baseAddress! + done, p.count - done) }
            if n < 0 {
                if cs_errno() == EAGAIN { break }
                throw Errno.current
            }
            done += n
        }
        return done
    }

    static func writeSome(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) -> Int {
        let n = bytes.withUnsafeBytes { p in (try? writeSome(fd, p)) ?? -1 }
        if n < 0 { throw Errno.current }
        return n
    }

    /// One read(2) of at most `limit` bytes into `buffer` (0: end of file).
    static func read(_ fd: Int32, into buffer: inout [UInt8], limit: Int) throws(Errno) -> Int {
        let n = buffer.withUnsafeMutableBytes { p in sysRaw { CShim.read(fd, p.baseAddress, min(limit, p.count)) } }
        if n < 0 { throw Errno.current }
        return n
    }

    /// One read(2) into raw memory (0: end of file).
    static func read(_ fd: Int32, into p: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        let n = sysRaw { CShim.read(fd, p.baseAddress, p.count) }
        if n < 0 { throw Errno.current }
        return n
    }

    static func readAll(_ fd: Int32, limit: Int) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try read(fd, into: &chunk, limit: chunk.count)
            if n == 0 { return out }
            if out.count + n > limit { throw Errno.tooLarge }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}
