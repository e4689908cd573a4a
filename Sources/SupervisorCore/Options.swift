import Diagnostics
import Glibc
import Platform
import SystemPackage

/// The tunables of `supervisor_set_option`, with the SPEC's defaults.
public struct Options: Sendable, Equatable {
    /// root_dir as set; nil: `$SUPERVISOR_ROOT_DIR`, else /var/lib/isulad,
    /// read when the GC list is opened (so the variable may be set late).
    public var rootDirOverride: String?
    public var killRetries = 10
    public var killRetryIntervalMs = 100
    public var gcRetryInitialMs = 100
    public var gcRetryMaxMs = 10_000
    public var gcStuckAfter = 20
    public var workers = 4
    public var mountDetachAfter = 5
    public var runtimeTimeoutMs = 30_000
    public var logLevel = LogLevel.warning

    public init() {}

    public var rootDir: String {
        if let rootDirOverride { return rootDirOverride }
        if let env = getenv("SUPERVISOR_ROOT_DIR"), env.pointee != 0 {
            let value = String(cString: env)
            if (try? Validate.absolutePath(value)) != nil { return value }
        }
        return "/var/lib/isulad"
    }

    /// Applies one option; EINVAL for an unknown key, a bad value, or a
    /// gc_retry_initial_ms above gc_retry_max_ms.
    public mutating func set(_ key: String, _ value: String) throws(Errno) {
        switch key {
        case "root_dir":
            try Validate.absolutePath(value)
            rootDirOverride = value
        case "kill_retries": killRetries = try Self.integer(value, 0...10_000)
        case "kill_retry_interval_ms": killRetryIntervalMs = try Self.integer(value, 0...600_000)
        // The backoff starts at initial and is capped at max: initial > max
        // is refused, checked against the other's current value, so raising
        // both means max first, lowering both means initial first.
        case "gc_retry_initial_ms":
            let v = try Self.integer(value, 1...86_400_000)
            guard v <= gcRetryMaxMs else { throw Errno.invalidArgument }
            gcRetryInitialMs = v
        case "gc_retry_max_ms":
            let v = try Self.integer(value, 1...86_400_000)
            guard v >= gcRetryInitialMs else { throw Errno.invalidArgument }
            gcRetryMaxMs = v
        case "gc_stuck_after": gcStuckAfter = try Self.integer(value, 1...1_000_000)
        case "workers": workers = try Self.integer(value, 1...256)
        case "mount_detach_after": mountDetachAfter = try Self.integer(value, 1...1_000_000)
        case "runtime_timeout_ms": runtimeTimeoutMs = try Self.integer(value, 100...3_600_000)
        case "log_level":
            guard let level = LogLevel(name: value) else { throw Errno.invalidArgument }
            logLevel = level
        default:
            throw Errno.invalidArgument
        }
    }

    /// Strict decimal: digits only, no sign, no spaces, within range.
    static func integer(_ text: String, _ range: ClosedRange<Int>) throws(Errno) -> Int {
        guard !text.isEmpty, text.utf8.count <= 10, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let v = Int(text), range.contains(v) else { throw Errno.invalidArgument }
        return v
    }

    /// Backoff before attempt `attempts + 1`: doubling from the initial delay,
    /// capped, with ±20% jitter so entries that failed together spread out.
    public func gcBackoffMs(afterAttempts attempts: Int) -> Int {
        let initial = max(1, gcRetryInitialMs)
        let cap = max(initial, gcRetryMaxMs)
        let shift = min(max(attempts - 1, 0), 30)
        let base = min(cap, initial << shift)
        let jitter = base / 5
        guard jitter > 0 else { return base }
        return min(cap, max(1, base - jitter + Int.random(in: 0...(2 * jitter))))
    }
}
