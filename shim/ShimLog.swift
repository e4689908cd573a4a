import CShim

/// The shim's own log: JSON lines {"level":…,"msg":…,"time":…} to
/// $ISULAD_SHIIM_LOG_PATH ("fifo:<path>" as iSulad passes it, or a plain
/// file), plain text on stderr when unset.
enum ShimLog {
    enum Level: Int32 { case error = 3, warning = 4, info = 6, debug = 7 }

    nonisolated(unsafe) static var fd: Int32 = 2
    nonisolated(unsafe) static var asJSON = false
    nonisolated(unsafe) static var threshold: Level = .info

    static func configure(path: String?, level: String?) {
        if let level, let parsed = parseLevel(level) { threshold = parsed }
        guard let path, !path.isEmpty else { return }
        let bytes = Array(path.utf8)
        let target: Int32
        if bytes.starts(with: "fifo:".utf8) {
            // Never block on a FIFO nobody reads: O_RDWR keeps it open.
            target = cs_open(String(decoding: bytes[5...], as: UTF8.self), O_RDWR | O_NONBLOCK, 0)
        } else {
            target = cs_open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        }
        if target >= 0 {
            fd = target
            asJSON = true
        }
    }

    static func parseLevel(_ name: String) -> Level? {
        let lower = name.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        if lower.elementsEqual("error".utf8) { return .error }
        if lower.elementsEqual("warning".utf8) || lower.elementsEqual("warn".utf8) { return .warning }
        if lower.elementsEqual("info".utf8) { return .info }
        if lower.elementsEqual("debug".utf8) { return .debug }
        return nil
    }

    // The message is only built when the level passes. One out-of-line
    // emit for every call site (a closure-taking emit was specialized per
    // call site: 3 KiB of text each).
    static func error(_ message: @autoclosure () -> String) { if passes(.error) { emit(.error, message()) } }
    static func warning(_ message: @autoclosure () -> String) { if passes(.warning) { emit(.warning, message()) } }
    static func info(_ message: @autoclosure () -> String) { if passes(.info) { emit(.info, message()) } }
    static func debug(_ message: @autoclosure () -> String) { if passes(.debug) { emit(.debug, message()) } }

    private static func passes(_ level: Level) -> Bool { level.rawValue <= threshold.rawValue }

    @inline(never)
    private static func emit(_ level: Level, _ message: String) {
        let name: String
        switch level {
        case .error: name = "error"
        case .warning: name = "warning"
        case .info: name = "info"
        case .debug: name = "debug"
        }
        var line: [UInt8]
        if asJSON {
            let w = JSONWriter()
            w.mapOpen()
            w.key("level"); w.string(name)
            w.key("msg"); w.string(message)
            w.key("time"); w.string(Timestamp.nowRFC3339())
            w.mapClose()
            line = w.finish()
        } else {
            line = Array("isulad-shim \(name): \(message)".utf8)
        }
        line.append(0x0a)
        try? FDIO.writeAll(fd, line)
    }
}

/// Writes a message on stderr as is (what iSulad shows the user).
func printError(_ message: String) {
    try? FDIO.writeAll(2, Array((message + "\n").utf8))
}
