import Diagnostics
import Cleaner
import Glibc
import Platform
import SystemPackage

/// The GC list as the engine holds it: not loaded, being loaded (by a
/// caller that does the I/O without the lifecycle lock), or open.
enum GCSlot {
    case none
    case loading
    case open(GarbageCollector)

    var open: GarbageCollector? {
        if case let .open(gc) = self { return gc }
        return nil
    }
}

/// What runs.
struct Parts {
    var pool: WorkerPool?
    var supervisor: ExitSupervisor?
    var gc = GCSlot.none
    var cleaner: BuiltinCleaner?
}

/// The engine's lifecycle as one value (guarded by `Engine.lifecycle`).
///
///     running ──shutdown──▶ draining ──▶ closingStore ──▶ running
///
/// draining: the epoll thread and the collector are stopped and queued work
/// runs to its end; that work may still open the GC list (an exit handed to
/// GC). closingStore: the list is flushed and closed; nothing may open it.
/// A hook (a library thread) that starts a part during a shutdown gets
/// ESHUTDOWN; any other thread waits for the shutdown to end.
struct LifecycleState {
    enum Phase { case running, draining, closingStore }
    var phase = Phase.running
    var parts = Parts()
    /// Why the last shutdown's final write of the GC list failed (status
    /// JSON's gc_write_error until a GC list is opened again).
    var shutdownWriteError: String?
}

extension Engine {
    /// A short read or update of the state (never waits inside `body`).
    func withState<R, E: Error>(_ body: (inout LifecycleState) throws(E) -> R) throws(E) -> R {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        return try body(&state)
    }

    /// Runs `body` with the lock held; `body` reads and writes `state`
    /// directly, one access at a time, so it may wait on the condition
    /// (no access to `state` is open across a wait).
    private func locked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lifecycle.lock()
        defer { lifecycle.unlock() }
        return try body()
    }

    /// Caller holds `lifecycle`. Returns once no shutdown runs; a library
    /// thread gets ESHUTDOWN instead (the shutdown is draining it).
    private func awaitRunningLocked() throws(Errno) {
        while state.phase != .running {
            if NativeThread.isLibraryThread.isSet { throw Errno(rawValue: ESHUTDOWN) }
            lifecycle.wait()
        }
    }

    /// Caller holds `lifecycle`.
    private func ensurePoolLocked() {
        if state.parts.pool != nil { return }
        state.parts.pool = WorkerPool(workers: currentOptions().workers)
        state.parts.cleaner = BuiltinCleaner()
    }

    public func startSupervisor() throws(SystemError) {
        try locked { () throws(SystemError) in
            try named("") { () throws(Errno) in try awaitRunningLocked() }
            if state.parts.supervisor != nil { return }
            ensurePoolLocked()
            // The pool outlives the supervisor (shutdown stops it later), so a
            // batch is always accepted while the epoll thread runs.
            state.parts.supervisor = try ExitSupervisor(onReady: { [unowned self] batch in
                guard let (pool, supervisor, cleaner) = self.withState({ s in
                    s.parts.pool.flatMap { p in s.parts.supervisor.flatMap { v in s.parts.cleaner.map { (p, v, $0) } } }
                }) else {
                    Log.error("supervisor: exits reported with no worker pool")
                    return
                }
                pool.submit(batch: batch.map { ready in
                    (ready.id, { if let exit = supervisor.collect(ready) { self.handleExit(exit, on: supervisor, cleaner: cleaner) } })
                })
            }, onOOM: { [unowned self] ids in
                for id in ids { self.scheduleOOMCheck(id) }
            })
        }
    }

    /// new_gchandler: load the GC list (idempotent).
    public func initGC() throws(SystemError) {
        try ensureGC()
    }

    /// The open GC list, loading it first when needed. The load (file I/O,
    /// maybe a large file) runs without the lifecycle lock; concurrent
    /// callers wait for it.
    @discardableResult
    func ensureGC() throws(SystemError) -> GarbageCollector {
        let rootDir = try locked { () throws(SystemError) -> String? in
            while true {
                switch state.parts.gc {
                case .open: return nil
                case .loading: lifecycle.wait()
                case .none:
                    if state.phase == .closingStore { throw SystemError(Errno(rawValue: ESHUTDOWN)) }
                    state.parts.gc = .loading
                    return currentOptions().rootDir
                }
            }
        }
        guard let rootDir else {
            if let gc = self.gc { return gc }
            return try ensureGC()   // closed between the two looks: load again
        }
        let gc: GarbageCollector
        do throws(SystemError) {
            gc = try GarbageCollector(rootDir: rootDir, gcCollaborators())
        } catch {
            withState { s in
                s.parts.gc = .none
                lifecycle.broadcast()
            }
            // The ABI logs the one line of the failed call.
            throw error
        }
        withState { s in
            s.parts.gc = .open(gc)
            s.shutdownWriteError = nil
            lifecycle.broadcast()
        }
        return gc
    }

    /// What the collector needs of the engine.
    private func gcCollaborators() -> GarbageCollector.Collaborators {
        GarbageCollector.Collaborators(
            submit: { [unowned self] jobs, priority in
                guard let pool = self.withState({ $0.parts.pool }) else { return false }
                return pool.submit(batch: jobs, priority: priority)
            },
            config: { [unowned self] in self.currentConfig() },
            releaser: { [unowned self] config in self.releaser(config) },
            released: { [unowned self] id, runtime in self.gcEntryReleased(id, runtime: runtime) })
    }

    public func startGC() throws(SystemError) {
        while true {
            try locked { () throws(SystemError) in try named("") { () throws(Errno) in try awaitRunningLocked() } }
            let gc = try ensureGC()
            let started = try locked { () throws(SystemError) -> Bool in
                try named("") { () throws(Errno) in try awaitRunningLocked() }
                // A shutdown in between closed that list: open the next one.
                guard state.parts.gc.open === gc else { return false }
                ensurePoolLocked()
                try named("start the collector") { () throws(Errno) in try gc.start() }
                return true
            }
            if started { return }
        }
    }

    public func restoreGC() throws(SystemError) -> Int {
        let gc = try ensureGC()
        return try gc.restore().count
    }

    /// Stops everything in dependency order: no new exits, no new GC
    /// attempts, queued work drained, GC list flushed, fds closed. Throws the
    /// GC list's final write error when it failed (all else is done).
    public func shutdown() throws(SystemError) {
        if NativeThread.isLibraryThread.isSet || Log.inHook.isSet { throw SystemError(.deadlock) }
        let (supervisor, collector, pool) = locked {
            // One shutdown at a time.
            while state.phase != .running { lifecycle.wait() }
            state.phase = .draining
            return (state.parts.supervisor, state.parts.gc.open, state.parts.pool)
        }
        // The epoll thread stops first (no new exits); the supervisor stays
        // reachable while the pool drains, so an exit handled now still reads
        // its OOM counters before its cgroup goes.
        supervisor?.stop()
        collector?.stop()
        pool?.stop()
        supervisor?.closeWatches()
        withState { $0.parts.supervisor = nil }
        // Draining may have opened the list (an exit handed to GC). Closing
        // it runs without the lock: the persister may still run gc_done
        // hooks, which may call in; meanwhile no list may open.
        let gc = locked { () -> GarbageCollector? in
            state.parts.pool = nil
            state.parts.cleaner = nil
            state.phase = .closingStore
            while case .loading = state.parts.gc { lifecycle.wait() }
            defer { state.parts.gc = .none }
            return state.parts.gc.open
        }
        var writeFailure: SystemError?
        var writeError: String?
        do throws(SystemError) {
            try gc?.close()
        } catch {
            writeFailure = error
            writeError = "cannot write \(gc?.rootDir ?? "")/\(GCFile.fileName): \(error)"
        }
        let (kept, keptIDs, dropped) = withLedger { $0.shutdown() }
        if kept > 0 {
            Log.info("supervisor: shutdown keeps \(kept) resources of \(keptIDs) armed containers for their next arm")
        }
        if dropped > 0 {
            Log.warning("supervisor: shutdown discards \(dropped) resources tracked for containers never armed")
        }
        withState { s in
            if let writeError { s.shutdownWriteError = writeError }
            s.phase = .running
            lifecycle.broadcast()
        }
        Log.flush()
        if let writeFailure { throw writeFailure }
    }
}
