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
    /// Why the last shutdown's final write of the GC list failed (status
    /// JSON's gc_write_error until a GC list is opened again).
    let shutdownWriteError = Mutex<String?>(nil)
    /// Resources tracked for containers not (yet) in the GC list, and the
    /// ids whose exit was handled (see ResourceLedger). Lock order: ledger,
    /// then the supervisor's table, then the OOM watcher.
    let ledger = Mutex(ResourceLedger())

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
            let supervisor = try ExitSupervisor(onReady: { [unowned self] batch in
                guard let pool = self.parts.withLock({ $0.pool }), let supervisor = self.parts.withLock({ $0.supervisor }) else {
                    Log.error("supervisor: exits reported with no worker pool")
                    return
                }
                pool.submit(batch: batch.map { ready in
                    (ready.id, { if let exit = supervisor.collect(ready) { self.handleExit(exit) } })
                })
            }, onOOM: { [unowned self] ids in
                for id in ids { self.scheduleOOMCheck(id) }
            })
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
            shutdownWriteError.withLock { $0 = nil }
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
        let pool = WorkerPool(workers: currentOptions().workers)
        let cleaner = BuiltinCleaner()
        parts.withLock {
            $0.pool = pool
            $0.cleaner = cleaner
        }
    }

    /// Stops everything in dependency order: no new exits, no new GC
    /// attempts, queued work drained, GC list flushed, fds closed. Throws the
    /// errno of the GC list's final write when it failed (all else is done).
    public func shutdown() throws(Errno) {
        if WorkerPool.onWorkerThread.isSet { throw Errno.deadlock }
        var writeFailure: Errno?
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
            do throws(Errno) {
                try gc?.store.close()
            } catch {
                writeFailure = error
                shutdownWriteError.withLock { $0 = "cannot write \(gc?.store.rootDir ?? "")/\(GCStore.fileName): \(error)" }
            }
            gcLock.withLock { gcClosing = false }
            let discarded = ledger.withLock { l -> Int in
                defer { l = ResourceLedger() }
                return l.pending.values.reduce(0) { $0 + $1.count }
            }
            if discarded > 0 {
                Log.warning("supervisor: shutdown discards \(discarded) resources tracked for containers never armed")
            }
            Log.flush()
        }
        if let writeFailure { throw writeFailure }
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
                // Resources tracked before arming belong to this run; their
                // cgroups' OOM counters are watched from now on.
                let watching = ledger.withLock { l -> Bool in
                    l.armed(id)
                    return l.cgroups(of: id).reduce(false) { supervisor.oom.watch(id: id, cgroup: $1) || $0 }
                }
                if watching { scheduleOOMCheck(id) }
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
        let resources = ledger.withLock { l -> [TrackedResource] in
            l.forgetExit(id)
            return l.take(id)
        }
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

    /// supervisor_track_resource: the resource joins the run it belongs to
    /// (ResourceLedger says which), or the GC entry, or is released now.
    public func trackResource(id: String, kind: ResourceKind, value: String) throws(Errno) {
        try TrackedResource.validate(kind: kind, value: value)
        let resource = TrackedResource(kind: kind, value: value)
        let (supervisor, gc) = parts.withLock { ($0.supervisor, $0.gc) }
        enum Route { case kept(watching: Bool), gc, releaseNow(runtime: String) }
        let route = try ledger.withLock { (l: inout ResourceLedger) throws(Errno) -> Route in
            let armed = supervisor?.state(of: id) != nil
            if !armed, gc?.contains(id) == true { return .gc }
            switch try l.track(resource, for: id, armed: armed) {
            case .kept:
                let watching = armed && kind == .cgroup && supervisor!.oom.watch(id: id, cgroup: value)
                return .kept(watching: watching)
            case let .releaseNow(runtime):
                return .releaseNow(runtime: runtime)
            }
        }
        switch route {
        case let .kept(watching):
            if watching { scheduleOOMCheck(id) }
        case .gc:
            // The entry may have left the list meanwhile: its run is over.
            if try gc!.appendResource(id: id, resource) { return }
            releaseLate(id: id, runtime: "", resource)
        case let .releaseNow(runtime):
            releaseLate(id: id, runtime: runtime, resource)
        }
    }

    /// A resource tracked after its container's exit was handled: released
    /// on a worker now; what fails goes to the GC list under the same id.
    private func releaseLate(id: String, runtime: String, _ resource: TrackedResource) {
        Log.info("\(id): \(resource.kind.name) \(resource.value) tracked after the exit was handled; releasing it now")
        let job: WorkerPool.Job = { [unowned self] in
            let outcome = self.releaser(hooks: self.currentHooks(), options: self.currentOptions())
                .run(id: id, runtime: runtime, pid: 0, resources: [resource], engineReleased: true)
            guard let failure = outcome.failure else { return }
            do {
                try self.ensureGC().add(id: id, runtime: runtime, info: PidInfo(pid: 0, ppid: 0, startTime: 0, pstartTime: 0),
                                        resources: outcome.resources, engineReleased: true, lastError: failure)
            } catch {
                Log.error("\(id): cannot add to the GC list: \(error); \(resource.kind.name) \(resource.value) may leak")
            }
        }
        if !submit(key: id, job) { job() }
    }

    /// Reads `id`'s OOM counters on a worker (in order with its other hooks).
    func scheduleOOMCheck(_ id: String) {
        submit(key: id) { [unowned self] in self.reportOOM(id) }
    }

    /// Tells the engine when `id`'s OOM-kill count grew.
    func reportOOM(_ id: String) {
        guard let supervisor = parts.withLock({ $0.supervisor }), let count = supervisor.oom.check(id) else { return }
        Log.info("\(id): OOM kill in its cgroup (\(count) in all)")
        currentHooks().containerOOM?(id, count)
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
