import CPlatform
import Glibc
import Platform
import SystemPackage

/// The shim's own log: JSON lines {"level":…,"msg":…} to
/// $ISULAD_SHIIM_LOG_PATH ("fifo:<path>" as iSulad passes it, or a plain
/// file), plain text on stderr when unset. No swift-log here: the shim keeps
/// its start-up and memory small.
enum ShimLog {
    nonisolated(unsafe) static var fd: Int32 = 2
    nonisolated(unsafe) static var asJSON = false
    nonisolated(unsafe) static var threshold: LogLevel = .info

    static func configure(path: String?, level: String?) {
        if let level, let parsed = LogLevel(name: lowercased(level)) { threshold = parsed }
        guard let path, !path.isEmpty else { return }
        let target: Int32
        if path.hasPrefix("fifo:") {
            // Never block on a FIFO nobody reads: O_RDWR keeps it open.
            target = cp_open(String(path.dropFirst(5)), O_RDWR | O_NONBLOCK, 0)
        } else {
            target = cp_open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        }
        if target >= 0 {
            fd = target
            asJSON = true
        }
    }

    static func error(_ message: @autoclosure () -> String) { emit(.error, message()) }
    static func warning(_ message: @autoclosure () -> String) { emit(.warning, message()) }
    static func info(_ message: @autoclosure () -> String) { emit(.info, message()) }
    static func debug(_ message: @autoclosure () -> String) { emit(.debug, message()) }

    private static func emit(_ level: LogLevel, _ message: String) {
        guard level.passes(threshold) else { return }
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
        line.append(UInt8(ascii: "\n"))
        try? FileIO.writeAll(fd, line)
    }

    static func lowercased(_ s: String) -> String {
        String(decoding: s.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }
}

/// Writes a message on stderr as is (what iSulad shows the user).
func printError(_ message: String) {
    try? FileIO.writeAll(2, Array((message + "\n").utf8))
}
