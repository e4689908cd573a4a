import Diagnostics
import Platform

/// A fixed set of worker threads running jobs keyed by container id: jobs
/// with the same key run one at a time, in submission order, so at most one
/// hook is in flight per container. Never a thread per job. Workers start
/// when work first needs them (an engine that never sees an exit runs
/// none), up to `maxWorkers`, and stay until `stop()`.
///
/// GC attempts are background jobs: they run only when no other job is
/// runnable, and on at most `maxWorkers - 1` workers at once, so hung GC
/// steps (an unmount in D state) never hold the worker an exit needs. With
/// one worker, background jobs get a second thread of their own: never more
/// than `maxWorkers` normal jobs run at once, nor `backgroundLimit` others.
final class WorkerPool: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    enum Priority { case normal, background }

    /// A runnable job's place in one of the two ready queues. Taken slots
    /// are cleared at once, so a finished job (and what it captured) is
    /// released when it returns, not at the next compaction.
    private struct Queue {
        var items: [(key: String, job: Job?)] = []
        var head = 0
        var isEmpty: Bool { head == items.count }
        var count: Int { items.count - head }

        mutating func append(_ key: String, _ job: @escaping Job) { items.append((key, job)) }

        mutating func take() -> (key: String, job: Job) {
            let key = items[head].key, job = items[head].job!
            items[head].job = nil
            head += 1
            if head > 64 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return (key, job)
        }

        mutating func removeAll() {
            items.removeAll()
            head = 0
        }
    }

    private let lock = ConditionLock()
    private var ready = Queue()
    private var readyBackground = Queue()
    /// Keys queued or running, with the jobs waiting behind them.
    private var keyed: [String: [(job: Job, priority: Priority)]] = [:]
    private var stopping = false
    private var stopped = false
    private var threads: [NativeThread] = []
    private let maxWorkers: Int
    private var busyWorkers = 0
    private var busyBackground = 0
    private var idleWorkers = 0
    /// Background jobs run on at most this many workers at once.
    private var backgroundLimit: Int { max(1, maxWorkers - 1) }
    /// Threads at most: `maxWorkers`, one more when that leaves none to
    /// normal jobs while background ones run.
    private var threadLimit: Int { max(maxWorkers, backgroundLimit + 1) }

    init(workers: Int) {
        maxWorkers = max(1, workers)
    }

    /// Starts workers (caller holds the lock) until every runnable job, the
    /// queued ones and `newJobs` more, has an idle worker, within
    /// `threadLimit`. false when none could start and none runs: the jobs
    /// would never run.
    private func startWorkersLocked(for newJobs: Int) -> Bool {
        var missing = ready.count + readyBackground.count + newJobs - idleWorkers
        while missing > 0 && threads.count < threadLimit {
            do {
                let thread = try NativeThread.start(name: "supv-worker-\(threads.count)") { [unowned self] in
                    self.run()
                }
                threads.append(thread)
                idleWorkers += 1   // counted as idle until it takes a job
                missing -= 1
            } catch {
                Log.error("supervisor: cannot start a worker thread: \(error)")
                break
            }
        }
        return !threads.isEmpty
    }

    /// Queues a job; false once the pool has stopped. While stopping, jobs
    /// still run (a job's follow-ups are part of draining).
    @discardableResult
    func submit(key: String, priority: Priority = .normal, _ job: @escaping Job) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return false }
        if keyed[key] != nil {
            keyed[key]!.append((job, priority))
        } else {
            guard startWorkersLocked(for: 1) else { return false }
            keyed[key] = []
            enqueueLocked(key, job, priority)
        }
        return true
    }

    private func enqueueLocked(_ key: String, _ job: @escaping Job, _ priority: Priority) {
        switch priority {
        case .normal: ready.append(key, job)
        case .background: readyBackground.append(key, job)
        }
        lock.signal()
    }

    /// Queues several jobs under one lock acquisition and wakes as many
    /// workers as there are new runnable jobs (one wake-up per exit batch
    /// instead of one lock round-trip per exit).
    @discardableResult
    func submit(batch: [(key: String, job: Job)], priority: Priority = .normal) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return false }
        guard startWorkersLocked(for: batch.count) else { return false }
        var runnable = 0
        for (key, job) in batch {
            if keyed[key] != nil {
                keyed[key]!.append((job, priority))
            } else {
                keyed[key] = []
                switch priority {
                case .normal: ready.append(key, job)
                case .background: readyBackground.append(key, job)
                }
                runnable += 1
            }
        }
        // Wake only as many sleeping workers as there are new jobs: a
        // broadcast for a batch of one would wake every worker for nothing.
        for _ in 0..<min(runnable, idleWorkers) { lock.signal() }
        return true
    }

    /// Lets every queued job finish (jobs may still submit follow-ups, which
    /// run too), then joins the threads.
    func stop() {
        let started: [NativeThread] = lock.withLock {
            stopping = true
            // No worker ever started: nothing is queued, nothing will run.
            if threads.isEmpty { stopped = true }
            lock.broadcast()
            return threads
        }
        // Draining jobs may start the remaining workers: join until none is new.
        var joined = 0
        var current = started
        while joined < current.count {
            for thread in current[joined...] { thread.join() }
            joined = current.count
            current = lock.withLock { threads }
        }
        lock.withLock {
            threads.removeAll()
            ready.removeAll()
            readyBackground.removeAll()
            keyed.removeAll()
        }
    }

    var startedWorkers: Int { lock.withLock { threads.count } }

    /// Starts every worker now (work is coming: a container was armed), so
    /// the first exits do not wait for thread creation.
    func prestart() {
        lock.withLock {
            guard !stopped, threads.count < maxWorkers else { return }
            _ = startWorkersLocked(for: maxWorkers + idleWorkers)
        }
    }

    var pendingJobs: Int { lock.withLock { ready.count + readyBackground.count + busyWorkers } }

    /// Caller holds the lock: the next job to run, normal ones first.
    private func takeLocked() -> (key: String, job: Job, priority: Priority)? {
        if !ready.isEmpty && busyWorkers - busyBackground < maxWorkers {
            let (key, job) = ready.take()
            return (key, job, .normal)
        }
        if !readyBackground.isEmpty && busyBackground < backgroundLimit {
            let (key, job) = readyBackground.take()
            return (key, job, .background)
        }
        return nil
    }

    private func run() {
        lock.lock()
        idleWorkers -= 1   // counted idle from its start: now it looks for work itself
        while true {
            var next = takeLocked()
            while next == nil {
                if stopping && busyWorkers == 0 && keyed.isEmpty {
                    stopped = true
                    lock.broadcast()
                    lock.unlock()
                    return
                }
                idleWorkers += 1
                lock.wait()
                idleWorkers -= 1
                next = takeLocked()
            }
            let (key, job, priority) = next!
            busyWorkers += 1
            if priority == .background { busyBackground += 1 }
            lock.unlock()
            job()
            lock.lock()
            busyWorkers -= 1
            if priority == .background {
                busyBackground -= 1
                // A background job waiting for this slot may go to another worker.
                if !readyBackground.isEmpty { lock.signal() }
            }
            if var waiting = keyed[key], !waiting.isEmpty {
                let following = waiting.removeFirst()
                keyed[key] = waiting
                enqueueLocked(key, following.job, following.priority)
            } else {
                keyed[key] = nil
            }
            if stopping { lock.broadcast() }
        }
    }
}
