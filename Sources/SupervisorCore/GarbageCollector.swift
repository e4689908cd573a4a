import Diagnostics
import Cleaner
import Glibc
import Platform
import SystemPackage

/// Retries the release of every container in the GC list until it is gone.
///
/// One collector thread sleeps on the store's condition until the earliest
/// entry is due (untimed while the list is empty: no idle wake-ups) and hands
/// due entries to the shared worker pool, one attempt in flight per entry.
final class GarbageCollector: @unchecked Sendable {
    let store: GCStore
    private unowned let engine: Engine
    private var collector: NativeThread?
    private var stopping = false
    /// Bumped per entry on replacement, so a late attempt result on a
    /// replaced entry is not applied to the new one.
    private var epochs: [String: UInt64] = [:]
    private var loggedStuck: Set<String> = []
    /// Removed from the list, but the removal is not durable yet (a crash
    /// now would restore it) or gc_done has not returned: still in GC. The
    /// value names the thread running gc_done once it runs.
    private var releasing: [String: pthread_t?] = [:]
    /// How long a state query made while gc_done runs waits for it to
    /// return, so that a thread woken by the hook already reads "released".
    private static let deliveryWaitNs: Int64 = 100_000_000

    init(store: GCStore, engine: Engine) {
        self.store = store
        self.engine = engine
        let now = MonotonicClock.nowNs()
        store.lock.withLock {
            store.entries.forEachInOrder { $0.nextDueNs = now }
        }
    }

    var isCollecting: Bool { store.lock.withLock { collector != nil } }

    func start() throws(Errno) {
        try store.lock.withLock { () throws(Errno) in
            guard collector == nil else { return }
            stopping = false
            collector = try NativeThread.start(name: "supv-gc") { [unowned self] in self.collectLoop() }
        }
    }

    func stop() {
        let thread: NativeThread? = store.lock.withLock {
            stopping = true
            store.lock.broadcast()
            return collector
        }
        thread?.join()
        store.lock.withLock { collector = nil }
    }

    // MARK: list operations

    /// Adds or replaces an entry and returns once it is durable.
    func add(id: String, runtime: String, info: PidInfo, resources: [TrackedResource],
             engineReleased: Bool = false, lastError: String? = nil) throws(Errno) {
        try store.lock.withLock { () throws(Errno) in
            if store.closed { throw Errno(rawValue: ESHUTDOWN) }
            var entry = GCEntry(id: id, runtime: runtime, info: info, resources: resources)
            entry.engineReleased = engineReleased
            entry.lastError = lastError
            entry.nextDueNs = MonotonicClock.nowNs()
            if let old = store.entries[id] {
                // Replacing never forgets what is still to be released.
                let added = resources.filter { r in !old.resources.contains { $0.kind == r.kind && $0.value == r.value } }
                entry.resources = old.resources + added
                entry.inFlight = old.inFlight
                entry.unknownKeys = old.unknownKeys
                epochs[id, default: 0] += 1
            }
            let generation = store.insertLocked(entry)
            try store.waitDurableLocked(generation)
        }
    }

    /// Adds a resource to an entry already in the list (durable on return).
    func appendResource(id: String, _ resource: TrackedResource) throws(Errno) -> Bool {
        try store.lock.withLock { () throws(Errno) -> Bool in
            guard store.entries[id] != nil else { return false }
            if store.closed { throw Errno(rawValue: ESHUTDOWN) }
            store.entries.update(id) { $0.resources.append(resource) }
            // An attempt running now works from a snapshot without this
            // resource: make its result not apply (it retries at once).
            epochs[id, default: 0] += 1
            let generation = store.touchLocked(id)
            try store.waitDurableLocked(generation)
            return true
        }
    }

    /// In the GC list, or its release not yet delivered (see `releasing`).
    func contains(_ id: String) -> Bool {
        store.lock.withLock {
            if store.entries[id] != nil { return true }
            guard case let .some(deliverer) = releasing[id] else { return false }
            guard let deliverer else { return true }
            // gc_done itself asking: its own release is delivered.
            if pthread_equal(deliverer, pthread_self()) != 0 { return false }
            let deadline = MonotonicClock.nowNs() + Self.deliveryWaitNs
            while case .some(.some) = releasing[id], store.entries[id] == nil {
                if !store.lock.wait(untilNs: deadline) { break }
            }
            return store.entries[id] != nil || releasing[id] != nil
        }
    }

    func restore() throws(Errno) -> [String] {
        let added = try store.mergeFromDisk()
        let now = MonotonicClock.nowNs()
        store.lock.withLock {
            for id in added { store.entries.update(id) { $0.nextDueNs = now } }
            store.lock.broadcast()
        }
        return added
    }

    // MARK: collecting

    private func collectLoop() {
        WorkerPool.onWorkerThread.set(true)
        store.lock.lock()
        while !stopping {
            let now = MonotonicClock.nowNs()
            var due: [String] = []
            var earliest = Int64.max
            store.entries.forEachInOrder { entry in
                guard !entry.inFlight else { return }
                if entry.nextDueNs <= now {
                    entry.inFlight = true
                    due.append(entry.id)
                } else {
                    earliest = min(earliest, entry.nextDueNs)
                }
            }
            if !due.isEmpty {
                store.lock.unlock()
                for id in due {
                    let epoch = store.lock.withLock { epochs[id, default: 0] }
                    let submitted = engine.submit(key: id) { [unowned self] in self.attempt(id, epoch: epoch) }
                    if !submitted { store.lock.withLock { store.entries.update(id) { $0.inFlight = false } } }
                }
                store.lock.lock()
                continue
            }
            if earliest == Int64.max { store.lock.wait() } else { store.lock.wait(untilNs: earliest) }
        }
        store.lock.unlock()
    }

    /// One attempt at an entry, on a worker thread.
    private func attempt(_ id: String, epoch: UInt64) {
        guard let entry = store.lock.withLock({ store.entries[id] }) else { return }
        let hooks = engine.currentHooks()
        let options = engine.currentOptions()
        var failure: String?
        var outcome = ResourceRelease.Outcome(resources: entry.resources, engineReleased: entry.engineReleased, failure: nil)

        // The monitor first: a shim still running would report a stale exit.
        let info = entry.info
        if info.ppid > 0 && hooks.liveness(id: id, runtime: entry.runtime, pid: info.ppid, startTime: info.pstartTime) != .gone {
            _ = hooks.kill(id: id, runtime: entry.runtime, pid: info.ppid, startTime: info.pstartTime, signal: SIGKILL)
        }
        if hooks.liveness(id: id, runtime: entry.runtime, pid: info.pid, startTime: info.startTime) != .gone {
            // A paused (frozen) container cannot die of SIGKILL until thawed.
            if let resume = hooks.resume { _ = resume(id, entry.runtime) }
            _ = hooks.kill(id: id, runtime: entry.runtime, pid: info.pid, startTime: info.startTime, signal: SIGKILL)
            ProcessProbe.waitForExit(pid: info.pid, startTime: info.startTime, timeoutMs: options.killRetryIntervalMs)
            if hooks.liveness(id: id, runtime: entry.runtime, pid: info.pid, startTime: info.startTime) != .gone {
                failure = "container process \(info.pid) still alive after SIGKILL"
            }
        }
        if failure == nil {
            outcome = engine.releaser(hooks: hooks, options: options)
                .run(id: id, runtime: entry.runtime, pid: info.pid, resources: entry.resources,
                     engineReleased: entry.engineReleased)
            failure = outcome.failure
        }
        finish(id, epoch: epoch, outcome: outcome, failure: failure, options: options)
    }

    private func finish(_ id: String, epoch: UInt64, outcome: ResourceRelease.Outcome, failure: String?, options: Options) {
        store.lock.withLock {
            guard store.entries[id] != nil else { return }
            store.entries.update(id) { $0.inFlight = false }
            if epochs[id, default: 0] != epoch {
                // Replaced while we worked: attempt the new entry right away.
                store.entries.update(id) { $0.nextDueNs = MonotonicClock.nowNs() }
                store.lock.broadcast()
                return
            }
            if failure == nil {
                epochs[id] = nil
                loggedStuck.remove(id)
                releasing[id] = .some(nil)
                let generation = store.removeLocked(id)
                store.afterDurableLocked(generation) { [unowned engine, self] in
                    let deliver: WorkerPool.Job = {
                        self.store.lock.withLock { self.releasing[id] = pthread_self() }
                        engine.gcEntryReleased(id)
                        self.store.lock.withLock {
                            self.releasing[id] = nil
                            self.store.lock.broadcast()
                        }
                    }
                    if !engine.submit(key: id, deliver) { deliver() }
                }
                return
            }
            var entry = store.entries[id]!
            entry.attempts += 1
            entry.resources = outcome.resources
            entry.engineReleased = outcome.engineReleased
            entry.lastError = failure
            entry.nextDueNs = MonotonicClock.nowNs() + Int64(options.gcBackoffMs(afterAttempts: entry.attempts)) * 1_000_000
            store.entries[id] = entry
            store.touchLocked(id)
            if entry.attempts == 1 {
                Log.warning("gc: \(id): \(failure!); will retry")
            } else if entry.attempts >= options.gcStuckAfter && !loggedStuck.contains(id) {
                loggedStuck.insert(id)
                Log.error("gc: \(id) is stuck after \(entry.attempts) attempts: \(failure!) (still retrying)")
            } else {
                Log.debug("gc: \(id): attempt \(entry.attempts) failed: \(failure!)")
            }
        }
    }

    /// Snapshot for status JSON.
    func snapshot() -> [GCEntry] {
        store.lock.withLock { store.entries.inOrder }
    }
}
