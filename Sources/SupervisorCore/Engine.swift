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
    private let config = Mutex((options: Options(), hooks: Hooks()))
    /// Resources tracked for containers not (yet) in the GC list, and the
    /// ids whose exit was handled (see ResourceLedger). Use `withLedger`.
    /// A pthread mutex, not Synchronization's Mutex: every exit takes it,
    /// and on Linux the latter contends through priority-inheritance futexes
    /// (a kernel round trip per collision), measurably slower under a burst.
    private let ledgerLock = ConditionLock()
    /// Guarded by `ledgerLock`.
    private var ledger = ResourceLedger()
    /// Whether the ledger holds any resource, published by `withLedger`: an
    /// exit handled while nothing is tracked anywhere skips one lock.
    private let ledgerHasPending = Atomic<Bool>(false)

    public init() {
    }

    // MARK: configuration

    public func setOption(_ key: String, _ value: String) throws(Errno) {
        if key == "root_dir" {
            // The GC list cannot move under a loaded (or loading) store.
            try withState { (s: inout LifecycleState) throws(Errno) in
                guard case .none = s.parts.gc else { throw Errno.resourceBusy }
                try config.withLock { (c: inout (options: Options, hooks: Hooks)) throws(Errno) in
                    try c.options.set(key, value)
                }
            }
            return
        }
        let level = try config.withLock { (c: inout (options: Options, hooks: Hooks)) throws(Errno) -> LogLevel in
            try c.options.set(key, value)
            return c.options.logLevel
        }
        Log.configure { $0.threshold = level }
    }

    public func setHooks(_ hooks: Hooks) {
        config.withLock { $0.hooks = hooks }
        Log.configure { $0.emit = hooks.log }
    }

    func currentHooks() -> Hooks { config.withLock { $0.hooks } }
    func currentConfig() -> (options: Options, hooks: Hooks) { config.withLock { $0 } }

    func withLedger<R, E: Error>(_ body: (inout ResourceLedger) throws(E) -> R) throws(E) -> R {
        ledgerLock.lock()
        defer {
            ledgerHasPending.store(!ledger.pending.isEmpty, ordering: .releasing)
            ledgerLock.unlock()
        }
        return try body(&ledger)
    }

    /// `id`'s tracked resources, taken (none without a lock when nothing is
    /// tracked at all; a resource tracked meanwhile is seen by the caller's
    /// final check under the lock).
    func takeTracked(_ id: String) -> [TrackedResource] {
        guard ledgerHasPending.load(ordering: .acquiring) else { return [] }
        return withLedger { $0.take(id) }
    }
    public func currentOptions() -> Options { config.withLock { $0.options } }

    // MARK: work

    @discardableResult
    func submit(key: String, _ job: @escaping WorkerPool.Job) -> Bool {
        guard let pool = withState({ $0.parts.pool }) else { return false }
        return pool.submit(key: key, job)
    }

    func releaser(hooks: Hooks, options: Options) -> ResourceRelease {
        let cleaner = withState { $0.parts.cleaner } ?? BuiltinCleaner()
        return ResourceRelease(cleaner: cleaner, hooks: hooks, options: options)
    }

    var supervisor: ExitSupervisor? { withState { $0.parts.supervisor } }
    var gc: GarbageCollector? { withState { $0.parts.gc.open } }
}
