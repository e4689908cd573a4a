/// Log severities shared by the library's log facade and the shim's logger.
public enum LogLevel: Int32, Sendable {
    case error = 3, warning = 4, info = 6, debug = 7

    /// At least as severe as `threshold` (syslog: lower is more severe).
    public func passes(_ threshold: LogLevel) -> Bool { rawValue <= threshold.rawValue }

    public init?(name: String) {
        switch name {
        case "error": self = .error
        case "warning", "warn": self = .warning
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }
}
