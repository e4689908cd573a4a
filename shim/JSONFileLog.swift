import CShim

/// Docker's json-file format: one {"log":…,"stream":…,"time":…} line per
/// line of output, rotated when the next line would pass `maxSize` bytes,
/// `maxFiles` files in total (path, path.1, … path.<maxFiles-1>).
struct JSONFileLog: ~Copyable {
    let path: String
    let maxSize: Int64
    let maxFiles: Int
    private var fd: FD?
    private var size: Int64 = 0
    /// A partial line per stream, held until its newline (or 16 KiB).
    private var pending: [[UInt8]] = [[], []]
    static let maxLine = 16 * 1024

    init(path: String, maxSize: Int64, maxFiles: Int) throws(Errno) {
        self.path = path
        self.maxSize = maxSize
        self.maxFiles = max(1, maxFiles)
        fd = nil
        try reopen(truncate: false)
    }

    private mutating func reopen(truncate: Bool) throws(Errno) {
        fd = nil
        let f = try FD(open: path, O_WRONLY | O_APPEND | O_CREAT | (truncate ? O_TRUNC : 0), mode: 0o640)
        var st = stat()
        size = fstat(f.raw, &st) == 0 ? Int64(st.st_size) : 0
        fd = consume f
    }

    /// stream 0: stdout, 1: stderr.
    mutating func append(stream: Int, _ bytes: UnsafeRawBufferPointer) {
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0a {
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
        // Invalid UTF-8 from the container becomes U+FFFD (yajl validates).
        w.key("log"); w.string(String(decoding: pending[stream], as: UTF8.self))
        w.key("stream"); w.string(stream == 0 ? "stdout" : "stderr")
        w.key("time"); w.string(Timestamp.nowRFC3339())
        w.mapClose()
        var line = w.finish()
        line.append(0x0a)
        pending[stream].removeAll(keepingCapacity: true)
        if maxSize > 0 && size > 0 && size + Int64(line.count) > maxSize { rotate() }
        guard let raw = fd?.raw else { return }
        do throws(Errno) {
            try FDIO.writeAll(raw, line)
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
        }
    }
}
