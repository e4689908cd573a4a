import Glibc
import Logging
import Platform
import Synchronization

extension LogLevel {
    init(_ level: Logger.Level) {
        switch level {
        case .trace, .debug: self = .debug
        case .info, .notice: self = .info
        case .warning: self = .warning
        case .error, .critical: self = .error
        }
    }
}

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

/// The library's logging front: a swift-log `Logger` whose handler forwards
/// every line to the current `LogSink`.
public enum Log {
    static let sink = Mutex(LogSink())

    public static func configure(_ update: (inout LogSink) -> Void) {
        sink.withLock { update(&$0) }
    }

    public static let logger = Logger(label: "libsupervisor") { _ in SinkLogHandler() }

    static let hookQueue = HookLogQueue()

    /// Logs on the calling thread, for the C ABI's one line per failed call:
    /// the caller holds no library lock there, and the line is delivered
    /// before the call returns.
    public static func direct(_ level: LogLevel, _ text: String) {
        let current = sink.withLock { $0 }
        guard level.passes(current.threshold) else { return }
        if let emit = current.emit { emit(level, text) } else { writeStderr(level, text) }
    }

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

    public static func error(_ message: @autoclosure () -> String) { logger.error("\(message())") }
    public static func warning(_ message: @autoclosure () -> String) { logger.warning("\(message())") }
    public static func info(_ message: @autoclosure () -> String) { logger.info("\(message())") }
    public static func debug(_ message: @autoclosure () -> String) { logger.debug("\(message())") }
}

struct SinkLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    /// The handler lets everything through; the sink's threshold filters, so
    /// that `log_level` takes effect without rebuilding loggers.
    var logLevel: Logger.Level {
        get {
            switch Log.sink.withLock({ $0.threshold }) {
            case .error: return .error
            case .warning: return .warning
            case .info: return .info
            case .debug: return .debug
            }
        }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = LogLevel(event.level)
        let current = Log.sink.withLock { $0 }
        guard level.passes(current.threshold) else { return }
        let text = "\(event.message)"
        if let emit = current.emit {
            Log.hookQueue.enqueue(emit, level, text)
        } else {
            Log.writeStderr(level, text)
        }
    }
}
