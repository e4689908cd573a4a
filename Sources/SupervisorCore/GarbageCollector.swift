import Diagnostics
import Cleaner
import Glibc
import Platform
import SystemPackage

/// Retries the release of every container in the GC list until it is gone.
///
/// Owns the list (a GCList value) behind `lock`, and a GCPersister that makes
/// it durable. One collector thread sleeps on the lock's condition until the
/// earliest entry is due (untimed while the list is empty: no idle wake-ups)
/// and hands due entries to the worker pool, one attempt in flight per entry.
/// It is given what it needs (Collaborators), not the engine.
final class GarbageCollector: @unchecked Sendable {
    /// What the collector uses of the engine.
    struct Collaborators: Sendable {
        /// Queues jobs keyed by container id; false (none queued) once the
        /// pool stopped. Attempts are background jobs (after exits, never on
        /// every worker).
        var submit: @Sendable ([(key: String, job: WorkerPool.Job)], WorkerPool.Priority) -> Bool
        /// Options and hooks, as of now.
        var config: @Sendable () -> EngineConfig
        var releaser: @Sendable (EngineConfig) -> ResourceRelease
        /// The entry (of this runtime) left the list durably: gc_done.
        var released: @Sendable (_ id: String, _ runtime: String) -> Void
    }

    private let lock = ConditionLock()
    /// Guarded by `lock`.
    private var list: GCList
    /// An entry removed from the list whose removal is not durable yet (a
    /// crash now would restore it) or whose gc_done has not returned: still
    /// in GC. `token` tells this release from a later one of the same id.
    private struct Release {
        let runtime: String
        let token: UInt64
        /// The thread running gc_done, once it runs.
        var deliverer: pthread_t?
    }
    /// Guarded by `lock`.
    private var releasing: [String: Release] = [:]
    private var releaseTokens: UInt64 = 0
    /// Guarded by `lock`: gc_restore calls reading the file now, and the
    /// durable generation reached meanwhile (applied when they are done).
    private var restoresReading = 0
    private var durableWhileReading: UInt64 = 0
    /// Guarded by `lock`: start_gchandler was called (and no stop since);
    /// the thread itself starts once the list has an entry.
    private var collecting = false
    private var collector: NativeThread?
    private var stopping = false
    private var persister: GCPersister!
    private let with: Collaborators

    /// How long a state query made while gc_done runs waits for it to
    /// return, so that a thread woken by the hook already reads "released".
    private static let deliveryWaitNs: Int64 = 100_000_000
    /// Attempts handed to the pool at most at once: enough that the collector
    /// wakes once per half of them, few enough that a list of 10,000 failing
    /// entries does not sit in the pool's queues. The pool runs them as
    /// background jobs: after exits, and never on every worker (hung GC
    /// steps, an unmount in D state, leave a worker to exits).
    static let attemptsQueued = 64
    private static let resubmitDelayNs: Int64 = 100_000_000
    /// The collector stopped at `attemptsQueued` (guarded by `lock`): an
    /// attempt's end wakes it once half of them are done.
    private var collectorAwaitsSlots = false
    /// Callers of `contains` waiting for a gc_done to return (guarded by
    /// `lock`): a delivery wakes the lock's waiters only when there are any,
    /// not the collector for every released entry.
    private var deliveryWaiters = 0

    /// Opens `rootDir` and loads garbage.json (a damaged file is kept aside
    /// as garbage.json.corrupt-<unix-time>).
    init(rootDir: String, _ collaborators: Collaborators) throws(SystemError) {
        with = collaborators
        let file = try GCFile(rootDir: rootDir)
        let doc: GCFileFormat.Document?
        do throws(SystemError) {
            doc = try file.read()
        } catch {
            file.close()
            throw error
        }
        list = GCList(doc, dueAt: MonotonicClock.nowNs())
        persister = GCPersister(file: file, snapshot: { [unowned self] in
            // The records are taken under the lock, concatenated outside it:
            // attempts and adds go on while a large file is put together.
            self.lock.withLock { self.list.documentParts() }.encode()
        }, onDurable: { [unowned self] generation in
            let ready = self.lock.withLock { () -> [Delivery] in
                if self.restoresReading > 0 {
                    self.durableWhileReading = max(self.durableWhileReading, generation)
                } else {
                    self.list.durable(upTo: generation)
                }
                // Generations grow in append order: the durable ones are a prefix.
                let n = self.deliveries.prefix { $0.generation <= generation }.count
                let ready = Array(self.deliveries.prefix(n))
                self.deliveries.removeFirst(n)
                return ready
            }
            if !ready.isEmpty { self.deliver(ready) }
        })
    }

    /// A removal whose gc_done waits for the write that makes it durable.
    private struct Delivery {
        let generation: UInt64
        let id: String
        let runtime: String
        let token: UInt64
    }
    /// Guarded by `lock`; in generation order.
    private var deliveries: [Delivery] = []

    /// On the persister thread, after a write: each gc_done as a job keyed by
    /// its id, queued in one batch (run here when no worker can).
    private func deliver(_ ready: [Delivery]) {
        let jobs = ready.map { d -> (key: String, job: WorkerPool.Job) in
            (d.id, { [unowned self] in
                self.lock.withLock {
                    if self.releasing[d.id]?.token == d.token { self.releasing[d.id]!.deliverer = pthread_self() }
                }
                self.with.released(d.id, d.runtime)
                self.lock.withLock {
                    // A later release of the same id keeps its own marker.
                    if self.releasing[d.id]?.token == d.token { self.releasing[d.id] = nil }
                    if self.deliveryWaiters > 0 { self.lock.broadcast() }
                }
            })
        }
        if !with.submit(jobs, .normal) { for j in jobs { j.job() } }
    }

    var rootDir: String { persister.file.rootDir }
    var writeError: String? { persister.writeError }
    var isCollecting: Bool { lock.withLock { collecting } }

    func start() throws(Errno) {
        try lock.withLock { () throws(Errno) in
            guard !collecting else { return }
            stopping = false
            collecting = true
            try startCollectorLocked()
        }
    }

    /// Starts the collector thread when collecting and there is something
    /// to collect (an empty list needs no thread). Caller holds `lock`.
    private func startCollectorLocked() throws(Errno) {
        guard collecting, collector == nil, list.count > 0 else { return }
        collector = try NativeThread.start(name: "supv-gc") { [unowned self] in self.collectLoop() }
    }

    /// An entry arrived: collect it (the thread may not run yet).
    private func wakeCollectorLocked() {
        do throws(Errno) {
            try startCollectorLocked()
        } catch {
            Log.error("gc: cannot start the collector thread: \(error); entries wait in the list")
        }
        lock.broadcast()
    }

    /// Stops collecting (attempts in flight finish on the pool).
    func stop() {
        let thread: NativeThread? = lock.withLock {
            stopping = true
            collecting = false
            lock.broadcast()
            return collector
        }
        thread?.join()
        lock.withLock { collector = nil }
    }

    /// Flushes the list and closes it; throws when the final write failed.
    func close() throws(SystemError) { try persister.close() }

    // MARK: list operations

    /// Adds or replaces an entry and returns once it is durable.
    func add(id: String, runtime: String, info: PidInfo, resources: [TrackedResource],
             engineReleased: Bool = false, lastError: String? = nil) throws(Errno) {
        var entry = GCEntry(id: id, runtime: runtime, info: info, resources: resources)
        entry.engineReleased = engineReleased
        entry.lastError = lastError
        let generation = lock.withLock { () -> UInt64 in
            list.add(entry, now: MonotonicClock.nowNs())
            wakeCollectorLocked()
            return persister.markDirty()
        }
        try persister.waitDurable(generation)
    }

    /// Adds a resource to an entry already in the list (durable on return).
    func appendResource(id: String, _ resource: TrackedResource) throws(Errno) -> Bool {
        let generation = lock.withLock { () -> UInt64? in
            guard list.appendResource(resource, to: id) else { return nil }
            return persister.markDirty()
        }
        guard let generation else { return false }
        try persister.waitDurable(generation)
        return true
    }

    /// In the GC list, or its release not yet delivered (see `releasing`).
    func contains(_ id: String) -> Bool {
        lock.withLock {
            if list.contains(id) { return true }
            guard let release = releasing[id] else { return false }
            guard let deliverer = release.deliverer else { return true }
            // gc_done itself asking: its own release is delivered.
            if pthread_equal(deliverer, pthread_self()) != 0 { return false }
            let deadline = MonotonicClock.nowNs() + Self.deliveryWaitNs
            deliveryWaiters += 1
            defer { deliveryWaiters -= 1 }
            while releasing[id]?.token == release.token, !list.contains(id) {
                if !lock.wait(untilNs: deadline) { break }
            }
            return list.contains(id) || releasing[id] != nil
        }
    }

    enum Placement: Equatable {
        /// In the list: a resource joins the entry.
        case listed
        /// Released, gc_done pending: the run is over (of this runtime).
        case released(runtime: String)
        case absent
    }

    /// Where `id` is, without waiting (a caller holding the ledger lock).
    func placement(of id: String) -> Placement {
        lock.withLock {
            if list.contains(id) { return .listed }
            if let release = releasing[id] { return .released(runtime: release.runtime) }
            return .absent
        }
    }

    /// Resources of an id whose run is over that could not be released:
    /// they join its entry when there is one (whatever else it holds), else
    /// a new entry with no process. Durable on return.
    func addLate(id: String, runtime: String, resources: [TrackedResource], lastError: String) throws(Errno) {
        let generation = lock.withLock { () -> UInt64 in
            if list.contains(id) {
                for r in resources { _ = list.appendResource(r, to: id) }
            } else {
                var entry = GCEntry(id: id, runtime: runtime, info: PidInfo(pid: 0, ppid: 0, startTime: 0, pstartTime: 0),
                                    resources: resources)
                entry.engineReleased = true
                entry.lastError = lastError
                list.add(entry, now: MonotonicClock.nowNs())
            }
            wakeCollectorLocked()
            return persister.markDirty()
        }
        try persister.waitDurable(generation)
    }

    /// gc_restore: merges entries of the file that the list does not have.
    func restore() throws(SystemError) -> [String] {
        // The file is read without the lock (it may be large; state queries
        // go on). Meanwhile removals stay pending even once durable: the file
        // read may predate their write, and must not bring them back.
        lock.withLock { restoresReading += 1 }
        let doc: GCFileFormat.Document?
        do throws(SystemError) {
            doc = try persister.file.read()
        } catch {
            lock.withLock { endRestoreLocked() }
            throw error
        }
        return lock.withLock { () -> [String] in
            defer { endRestoreLocked() }
            guard let doc else { return [] }
            let (added, changed) = list.merge(doc, now: MonotonicClock.nowNs())
            if changed { _ = persister.markDirty() }
            wakeCollectorLocked()
            return added
        }
    }

    /// Caller holds `lock`.
    private func endRestoreLocked() {
        restoresReading -= 1
        if restoresReading == 0 && durableWhileReading > 0 {
            list.durable(upTo: durableWhileReading)
            durableWhileReading = 0
        }
    }

    /// Snapshot for status JSON.
    func snapshot() -> [GCEntryTable.Slot] {
        lock.withLock { list.entries.inOrder }
    }

    // MARK: collecting

    private func collectLoop() {
        lock.lock()
        while !stopping {
            let (due, earliest) = list.takeDue(now: MonotonicClock.nowNs(), limit: Self.attemptsQueued)
            collectorAwaitsSlots = list.inFlightCount >= Self.attemptsQueued
            if !due.isEmpty {
                lock.unlock()
                let jobs = due.map { attempt -> (key: String, job: WorkerPool.Job) in
                    (attempt.id, { [unowned self] in self.attempt(attempt) })
                }
                let submitted = with.submit(jobs, .background)
                lock.lock()
                if !submitted {
                    // No worker could take them (the pool stopped, or threads
                    // cannot start): try again in a while, not in a busy loop.
                    let retryAt = MonotonicClock.nowNs() + Self.resubmitDelayNs
                    for attempt in due { list.cancelAttempt(attempt.id, retryAt: retryAt) }
                }
                continue
            }
            if let earliest { lock.wait(untilNs: earliest) } else { lock.wait() }
        }
        lock.unlock()
    }

    /// One attempt at an entry, on a worker thread.
    private func attempt(_ attempt: GCList.Attempt) {
        let id = attempt.id
        // Decoded outside the lock: attempts on other workers go on meanwhile.
        guard let record = lock.withLock({ list.record(of: id) }) else { return }
        let entry = record.entry
        let config = with.config()
        let hooks = config.hooks, options = config.options
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
            outcome = with.releaser(config)
                .run(id: id, runtime: entry.runtime, pid: info.pid, resources: entry.resources,
                     engineReleased: entry.engineReleased)
            failure = outcome.failure
        }
        finish(attempt, entry: entry, outcome: outcome, failure: failure, options: options)
    }

    private func finish(_ attempt: GCList.Attempt, entry: GCEntry, outcome: ResourceRelease.Outcome,
                        failure: String?, options: Options) {
        let id = attempt.id
        lock.withLock {
            // The collector is woken only when the schedule changed (superseded:
            // due now; failed: a new due time), not for every release.
            defer {
                // Half of the queued attempts done: the collector queues more.
                if collectorAwaitsSlots && list.inFlightCount <= Self.attemptsQueued / 2 {
                    collectorAwaitsSlots = false
                    lock.broadcast()
                }
            }
            switch list.finishAttempt(attempt, resources: entry.resources, outcome: outcome, failure: failure,
                                      now: MonotonicClock.nowNs(), options: options) {
            case .gone:
                return
            case .superseded:
                lock.broadcast()
            case .released:
                releaseTokens += 1
                let token = releaseTokens, runtime = entry.runtime
                releasing[id] = Release(runtime: runtime, token: token)
                let generation = persister.markDirty()
                list.remove(id, generation: generation)
                // gc_done once the removal is durable (deliverDurable).
                deliveries.append(Delivery(generation: generation, id: id, runtime: runtime, token: token))
            case let .failed(attempts, newlyStuck):
                _ = persister.markDirty()
                lock.broadcast()
                if attempts == 1 {
                    Log.warning("gc: \(id): \(failure!); will retry")
                } else if newlyStuck {
                    Log.error("gc: \(id) is stuck after \(attempts) attempts: \(failure!) (still retrying)")
                } else {
                    Log.debug("gc: \(id): attempt \(attempts) failed: \(failure!)")
                }
            }
        }
    }
}
