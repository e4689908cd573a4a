import Diagnostics
import Cleaner
import Glibc
import Platform
import Synchronization
import SystemPackage

/// The one library instance behind the C ABI: options and hooks (`config`),
/// the running parts and the shutdown phase (`lifecycle`, Lifecycle.swift),
/// and the resources tracked for containers (`ledger`). Each is one value
/// behind one lock.
///
/// Lock order, outermost first: lifecycle, ledger, the supervisor's table,
/// the OOM watcher, the GC's locks. `config` is a leaf (never held while
/// taking another).
public final class Engine: @unchecked Sendable {
    public static let shared = Engine()

    /// Guards `state`; its condition wakes callers waiting for a shutdown
    /// or a GC list load to finish.
    let lifecycle = ConditionLock()
    /// Guarded by `lifecycle`.
    var state = LifecycleState()
    private let config = Mutex(EngineConfig(options: Options(), hooks: Hooks()))
    /// Resources tracked for containers not (yet) in the GC list, and the
    /// ids whose exit was handled (see ResourceLedger). Use `withLedger`.
    /// A pthread mutex, not Synchronization's Mutex: on Linux the latter
    /// contends through priority-inheritance futexes (a kernel round trip
    /// per collision), measurably slower under a burst of tracks.
    private let ledgerLock = ConditionLock()
    /// Guarded by `ledgerLock`.
    private var ledger = ResourceLedger()

    public init() {
    }

    // MARK: configuration

    public func setOption(_ key: String, _ value: String) throws(Errno) {
        if key == "root_dir" {
            // The GC list cannot move under a loaded (or loading) store.
            try withState { (s: inout LifecycleState) throws(Errno) in
                guard case .none = s.parts.gc else { throw Errno.resourceBusy }
                try config.withLock { (c: inout EngineConfig) throws(Errno) in
                    var options = c.options
                    try options.set(key, value)
                    c = EngineConfig(options: options, hooks: c.hooks)
                }
            }
            return
        }
        let level = try config.withLock { (c: inout EngineConfig) throws(Errno) -> LogLevel in
            var options = c.options
            try options.set(key, value)
            c = EngineConfig(options: options, hooks: c.hooks)
            return options.logLevel
        }
        Log.configure { $0.threshold = level }
    }

    public func setHooks(_ hooks: Hooks) {
        config.withLock { $0 = EngineConfig(options: $0.options, hooks: hooks) }
        Log.configure { $0.emit = hooks.log }
    }

    func currentHooks() -> Hooks { currentConfig().hooks }
    func currentConfig() -> EngineConfig { config.withLock { $0 } }

    func withLedger<R, E: Error>(_ body: (inout ResourceLedger) throws(E) -> R) throws(E) -> R {
        ledgerLock.lock()
        defer { ledgerLock.unlock() }
        return try body(&ledger)
    }

    public func currentOptions() -> Options { currentConfig().options }

    // MARK: work

    @discardableResult
    func submit(key: String, _ job: @escaping WorkerPool.Job) -> Bool {
        guard let pool = withState({ $0.parts.pool }) else { return false }
        return pool.submit(key: key, job)
    }

    func releaser(_ config: EngineConfig) -> ResourceRelease {
        let cleaner = withState { $0.parts.cleaner } ?? BuiltinCleaner()
        return ResourceRelease(cleaner: cleaner, config: config)
    }

    var supervisor: ExitSupervisor? { withState { $0.parts.supervisor } }
    var gc: GarbageCollector? { withState { $0.parts.gc.open } }
}
