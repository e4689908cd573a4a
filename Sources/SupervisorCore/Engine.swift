import Diagnostics
import Cleaner
import Glibc
import Platform
import Synchronization
import SystemPackage

/// The one library instance behind the C ABI: options, hooks, and the
/// running parts (worker pool, exit supervisor, GC). Start and stop are
/// serialized by `lifecycle`; the parts are read through `parts`.
public final class Engine: @unchecked Sendable {
    public static let shared = Engine()

    struct Parts {
        var pool: WorkerPool?
        var supervisor: ExitSupervisor?
        var gc: GarbageCollector?
        var cleaner: BuiltinCleaner?
    }

    private let lifecycle = ConditionLock()
    /// Guards creating/closing the GC store and changing root_dir. Separate
    /// from `lifecycle` because exit handling (on workers that shutdown
    /// drains) may create the store.
    private let gcLock = ConditionLock()
    /// Set while `shutdown()` drains the pool: a hook that asks to start a
    /// part then gets ESHUTDOWN instead of waiting for a lifecycle lock that
    /// the draining shutdown holds (which would deadlock).
    private let shuttingDown = Atomic<Bool>(false)
    /// Guarded by gcLock: the old store is being closed by shutdown.
    private var gcClosing = false
    let parts = Mutex(Parts())
    private let config: Mutex<(options: Options, hooks: Hooks)>
    /// Resources tracked for containers not (yet) in the GC list, in order.
    private let tracked = Mutex<[String: [TrackedResource]]>([:])

    public init() {
        config = Mutex((Options(), Hooks()))
    }

    // MARK: configuration

    public func setOption(_ key: String, _ value: String) throws(Errno) {
        if key == "root_dir" {
            // The GC list cannot move under a running store.
            try gcLock.withLock { () throws(Errno) in
                if parts.withLock({ $0.gc != nil }) { throw Errno.resourceBusy }
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
    public func currentOptions() -> Options { config.withLock { $0.options } }

    // MARK: lifecycle

    private func refuseStartFromHookDuringShutdown() throws(Errno) {
        if shuttingDown.load(ordering: .acquiring) && WorkerPool.onWorkerThread.isSet {
            throw Errno(rawValue: ESHUTDOWN)
        }
    }

    public func startSupervisor() throws(Errno) {
        try refuseStartFromHookDuringShutdown()
        try lifecycle.withLock { () throws(Errno) in
            if parts.withLock({ $0.supervisor != nil }) { return }
            try ensurePoolLocked()
            // The pool outlives the supervisor (shutdown stops it later), so a
            // batch is always accepted while the epoll thread runs.
            let supervisor = try ExitSupervisor { [unowned self] batch in
                guard let pool = self.parts.withLock({ $0.pool }), let supervisor = self.parts.withLock({ $0.supervisor }) else {
                    Log.error("supervisor: exits reported with no worker pool")
                    return
                }
                pool.submit(batch: batch.map { ready in
                    (ready.id, { if let exit = supervisor.collect(ready) { self.handleExit(exit) } })
                })
            }
            parts.withLock { $0.supervisor = supervisor }
        }
    }

    /// new_gchandler: load the GC list (idempotent).
    public func initGC() throws(Errno) {
        try ensureGC()
    }

    @discardableResult
    func ensureGC() throws(Errno) -> GarbageCollector {
        try gcLock.withLock { () throws(Errno) -> GarbageCollector in
            if let gc = parts.withLock({ $0.gc }) { return gc }
            if gcClosing { throw Errno(rawValue: ESHUTDOWN) }
            let rootDir = currentOptions().rootDir
            let store: GCStore
            do throws(Errno) {
                store = try GCStore(rootDir: rootDir)
            } catch {
                Log.error("cannot open the GC list in \(rootDir): \(error)")
                throw error
            }
            let gc = GarbageCollector(store: store, engine: self)
            parts.withLock { $0.gc = gc }
            return gc
        }
    }

    public func startGC() throws(Errno) {
        try refuseStartFromHookDuringShutdown()
        try lifecycle.withLock { () throws(Errno) in
            let gc = try ensureGC()
            try ensurePoolLocked()
            try gc.start()
        }
    }

    public func restoreGC() throws(Errno) -> Int {
        return try ensureGC().restore().count
    }

    private func ensurePoolLocked() throws(Errno) {
        if parts.withLock({ $0.pool != nil }) { return }
        let pool = try WorkerPool(workers: currentOptions().workers)
        let cleaner = BuiltinCleaner()
        parts.withLock {
            $0.pool = pool
            $0.cleaner = cleaner
        }
    }

    /// Stops everything in dependency order: no new exits, no new GC
    /// attempts, queued work drained, GC list flushed, fds closed.
    public func shutdown() throws(Errno) {
        if WorkerPool.onWorkerThread.isSet { throw Errno.deadlock }
        lifecycle.withLock {
            shuttingDown.store(true, ordering: .releasing)
            defer { shuttingDown.store(false, ordering: .releasing) }
            let current = parts.withLock { $0 }
            current.supervisor?.stop()
            parts.withLock { $0.supervisor = nil }
            current.gc?.stop()
            current.pool?.stop()
            parts.withLock { $0.pool = nil }
            // Draining may have opened the store (an exit handed to GC). Close
            // it outside gcLock: the persister may still run gc_done hooks,
            // which may call in; meanwhile no second store may open.
            let gc = gcLock.withLock { () -> GarbageCollector? in
                let gc = parts.withLock { $0.gc }
                parts.withLock { $0 = Parts() }
                gcClosing = true
                return gc
            }
            gc?.store.close()
            gcLock.withLock { gcClosing = false }
            Log.flush()
        }
    }

    // MARK: work

    @discardableResult
    func submit(key: String, _ job: @escaping WorkerPool.Job) -> Bool {
        guard let pool = parts.withLock({ $0.pool }) else { return false }
        return pool.submit(key: key, job)
    }

    func releaser(hooks: Hooks, options: Options) -> ResourceRelease {
        let cleaner = parts.withLock { $0.cleaner } ?? BuiltinCleaner()
        return ResourceRelease(cleaner: cleaner, hooks: hooks, options: options)
    }

    // MARK: containers

    public func armExitMonitor(fd: Int32, info: PidInfo, id: String, runtime: String) throws(Errno) {
        // A shutdown can stop the supervisor we picked up: then arm on the
        // one started next (at most once more), or report ESHUTDOWN.
        var attempt = 0
        while true {
            var supervisor = parts.withLock { $0.supervisor }
            if supervisor == nil {
                try startSupervisor()
                supervisor = parts.withLock { $0.supervisor }
            }
            guard let supervisor else { throw Errno(rawValue: ESHUTDOWN) }
            do throws(Errno) {
                try supervisor.arm(fd: fd, id: id, runtime: runtime, info: info)
                break
            } catch where error.rawValue == ESHUTDOWN && attempt == 0 {
                attempt += 1
            }
        }
        Log.debug("\(id): exit monitor armed (pid \(info.pid), shim \(info.ppid))")
    }

    /// gc_add_container: the entry is durable on return.
    public func addToGC(id: String, runtime: String, info: PidInfo) throws(Errno) {
        let gc = try ensureGC()
        let resources = tracked.withLock { $0.removeValue(forKey: id) } ?? []
        do {
            try gc.add(id: id, runtime: runtime, info: info, resources: resources)
        } catch {
            Log.error("\(id): cannot add to the GC list: \(error)")
            throw error
        }
    }

    public func isInGC(_ id: String) -> Bool {
        parts.withLock { $0.gc }?.contains(id) ?? false
    }

    public func trackResource(id: String, kind: ResourceKind, value: String) throws(Errno) {
        try TrackedResource.validate(kind: kind, value: value)
        let resource = TrackedResource(kind: kind, value: value)
        if let gc = parts.withLock({ $0.gc }), try gc.appendResource(id: id, resource) { return }
        tracked.withLock { $0[id, default: []].append(resource) }
    }

    func finishMonitor(_ id: String) {
        parts.withLock { $0.supervisor }?.finish(id)
    }

    func takeTracked(_ id: String) -> [TrackedResource] {
        tracked.withLock { $0.removeValue(forKey: id) } ?? []
    }

    public enum ContainerState: Int32 {
        case none = 0, running = 1, stopping = 2, gc = 3
    }

    public func state(of id: String) -> ContainerState {
        let (supervisor, gc) = parts.withLock { ($0.supervisor, $0.gc) }
        switch supervisor?.state(of: id) {
        case .running?: return .running
        case .stopping?: return .stopping
        case nil: break
        }
        return gc?.contains(id) == true ? .gc : .none
    }

    /// The GC entry of `id` left the list durably: tell the engine.
    func gcEntryReleased(_ id: String) {
        // Runs on a worker, or on the persister when the pool already stopped.
        Log.info("gc: \(id): all resources released")
        currentHooks().gcDone?(id)
    }
}
