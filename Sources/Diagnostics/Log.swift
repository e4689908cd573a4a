import Glibc
import Platform
import Synchronization

/// Where log lines go: the engine's hook (from the log thread), or stderr. Replaced as a whole when
/// the engine installs its ops, so a reader never sees half an update.
public struct LogSink: Sendable {
    public var threshold: LogLevel
    public var emit: (@Sendable (LogLevel, String) -> Void)?

    public init(threshold: LogLevel = .warning, emit: (@Sendable (LogLevel, String) -> Void)? = nil) {
        self.threshold = threshold
        self.emit = emit
    }
}

/// The library's logging front. A line below the threshold costs one atomic
/// load and never builds its message; one that passes takes the sink's lock
/// once. (swift-log was a pass-through here: no metadata, one handler, and a
/// lock taken for every level read.)
public enum Log {
    static let sink = Mutex(LogSink())
    /// The sink's threshold, readable without the lock.
    private static let threshold = Atomic<Int32>(LogLevel.warning.rawValue)

    public static func configure(_ update: (inout LogSink) -> Void) {
        sink.withLock { s in
            update(&s)
            threshold.store(s.threshold.rawValue, ordering: .relaxed)
        }
    }

    static let hookQueue = HookLogQueue()

    /// Logs on the calling thread, for the C ABI's one line per failed call:
    /// the caller holds no library lock there, and the line is delivered
    /// before the call returns.
    public static func direct(_ level: LogLevel, _ text: String) {
        let current = sink.withLock { $0 }
        guard level.passes(current.threshold) else { return }
        if let emit = current.emit {
            // A hook, even on the caller's thread: supervisor_shutdown from
            // it is refused like from any hook.
            inHook.set(true)
            defer { inHook.set(false) }
            emit(level, text)
        } else {
            writeStderr(level, text)
        }
    }

    /// Set while the engine's log hook runs on this thread.
    public static let inHook = ThreadFlag()

    static func writeStderr(_ level: LogLevel, _ text: String) {
        let tag: String
        switch level {
        case .error: tag = "error"
        case .warning: tag = "warning"
        case .info: tag = "info"
        case .debug: tag = "debug"
        }
        let line = "libsupervisor \(tag): \(text)\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// Delivers every queued line to the engine's hook and stops the log
    /// thread (shutdown); it starts again with the next line.
    public static func flush() { hookQueue.flush() }

    public static func error(_ message: @autoclosure () -> String) { log(.error, message) }
    public static func warning(_ message: @autoclosure () -> String) { log(.warning, message) }
    public static func info(_ message: @autoclosure () -> String) { log(.info, message) }
    public static func debug(_ message: @autoclosure () -> String) { log(.debug, message) }

    /// Queued for the hook's thread (lines come from inside library locks).
    private static func log(_ level: LogLevel, _ message: () -> String) {
        guard level.rawValue <= threshold.load(ordering: .relaxed) else { return }
        let current = sink.withLock { $0 }
        guard level.passes(current.threshold) else { return }
        let text = message()
        if let emit = current.emit {
            hookQueue.enqueue(emit, level, text)
        } else {
            writeStderr(level, text)
        }
    }
}
