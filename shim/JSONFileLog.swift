import CPlatform
import Glibc
import Platform
import SystemPackage

/// Docker's json-file format: one {"log":…,"stream":…,"time":…} line per
/// line of output, rotated when the next line would pass `maxSize` bytes,
/// `maxFiles` files in total (path, path.1, … path.<maxFiles-1>).
struct JSONFileLog {
    let path: String
    let maxSize: Int64
    let maxFiles: Int
    private var fd: Int32 = -1
    private var size: Int64 = 0
    /// A partial line per stream, held until its newline (or 16 KiB).
    private var pending: [[UInt8]] = [[], []]
    static let maxLine = 16 * 1024

    init(path: String, maxSize: Int64, maxFiles: Int) throws(Errno) {
        self.path = path
        self.maxSize = maxSize
        self.maxFiles = max(1, maxFiles)
        try reopen(truncate: false)
    }

    private mutating func reopen(truncate: Bool) throws(Errno) {
        if fd >= 0 { close(fd) }
        fd = cp_open(path, O_WRONLY | O_APPEND | O_CREAT | (truncate ? O_TRUNC : 0), 0o640)
        guard fd >= 0 else { throw Errno(rawValue: cp_errno()) }
        var st = stat()
        size = fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// stream 0: stdout, 1: stderr.
    mutating func append(stream: Int, _ bytes: UnsafeRawBufferPointer) {
        var start = 0
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            pending[stream].append(contentsOf: bytes[start...i])
            emit(stream)
            start = i + 1
        }
        if start < bytes.count {
            pending[stream].append(contentsOf: bytes[start..<bytes.count])
            if pending[stream].count >= Self.maxLine { emit(stream) }
        }
    }

    /// Writes out partial lines (at EOF).
    mutating func flush() {
        for s in 0..<2 where !pending[s].isEmpty { emit(s) }
    }

    private mutating func emit(_ stream: Int) {
        let w = JSONWriter()
        w.mapOpen()
        w.key("log"); w.string(String(decoding: pending[stream], as: UTF8.self))
        w.key("stream"); w.string(stream == 0 ? "stdout" : "stderr")
        w.key("time"); w.string(Timestamp.nowRFC3339())
        w.mapClose()
        var line = w.finish()
        line.append(UInt8(ascii: "\n"))
        pending[stream].removeAll(keepingCapacity: true)
        if maxSize > 0 && size > 0 && size + Int64(line.count) > maxSize { rotate() }
        guard fd >= 0 else { return }
        do throws(Errno) {
            try FileIO.writeAll(fd, line)
            size += Int64(line.count)
        } catch {
            ShimLog.warning("write container log \(path): \(error)")
        }
    }

    private mutating func rotate() {
        if maxFiles > 1 {
            var i = maxFiles - 1
            while i > 1 {
                _ = rename("\(path).\(i - 1)", "\(path).\(i)")
                i -= 1
            }
            _ = rename(path, "\(path).1")
        }
        do throws(Errno) { try reopen(truncate: true) } catch {
            ShimLog.error("reopen container log \(path): \(error)")
            fd = -1
        }
    }
}
