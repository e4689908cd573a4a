import Diagnostics
import Platform

/// A fixed set of worker threads running jobs keyed by container id: jobs
/// with the same key run one at a time, in submission order, so at most one
/// hook is in flight per container. Never a thread per job. Workers start
/// when work first needs them (an engine that never sees an exit runs
/// none), up to `maxWorkers`, and stay until `stop()`.
final class WorkerPool: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    private let lock = ConditionLock()
    /// Taken slots are cleared at once, so a finished job (and what it
    /// captured) is released when it returns, not at the next compaction.
    private var ready: [(key: String, job: Job?)] = []
    private var readyHead = 0
    /// Keys queued or running, with the jobs waiting behind them.
    private var keyed: [String: [Job]] = [:]
    private var stopping = false
    private var stopped = false
    private var threads: [NativeThread] = []
    private let maxWorkers: Int
    private var busyWorkers = 0
    private var idleWorkers = 0


    init(workers: Int) {
        maxWorkers = max(1, workers)
    }

    /// Starts workers (caller holds the lock) until every runnable job, the
    /// queued ones and `newJobs` more, has an idle worker, within
    /// `maxWorkers`. false when none could start and none runs: the jobs
    /// would never run.
    private func startWorkersLocked(for newJobs: Int) -> Bool {
        var missing = ready.count - readyHead + newJobs - idleWorkers
        while missing > 0 && threads.count < maxWorkers {
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
    func submit(key: String, _ job: @escaping Job) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return false }
        if keyed[key] != nil {
            keyed[key]!.append(job)
        } else {
            guard startWorkersLocked(for: 1) else { return false }
            keyed[key] = []
            ready.append((key, job))
            lock.signal()
        }
        return true
    }

    /// Queues several jobs under one lock acquisition and wakes as many
    /// workers as there are new runnable jobs (one wake-up per exit batch
    /// instead of one lock round-trip per exit).
    @discardableResult
    func submit(batch: [(key: String, job: Job)]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return false }
        guard startWorkersLocked(for: batch.count) else { return false }
        var runnable = 0
        for (key, job) in batch {
            if keyed[key] != nil {
                keyed[key]!.append(job)
            } else {
                keyed[key] = []
                ready.append((key, job))
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
            readyHead = 0
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

    var pendingJobs: Int { lock.withLock { ready.count - readyHead + busyWorkers } }

    private func run() {
        lock.lock()
        idleWorkers -= 1   // counted idle from its start: now it looks for work itself
        while true {
            while readyHead == ready.count {
                if stopping && busyWorkers == 0 && keyed.isEmpty {
                    stopped = true
                    lock.broadcast()
                    lock.unlock()
                    return
                }
                idleWorkers += 1
                lock.wait()
                idleWorkers -= 1
            }
            let key = ready[readyHead].key
            let job = ready[readyHead].job!
            ready[readyHead].job = nil
            readyHead += 1
            if readyHead > 64 && readyHead * 2 > ready.count {
                ready.removeFirst(readyHead)
                readyHead = 0
            }
            busyWorkers += 1
            lock.unlock()
            job()
            lock.lock()
            busyWorkers -= 1
            if var waiting = keyed[key], !waiting.isEmpty {
                let next = waiting.removeFirst()
                keyed[key] = waiting
                ready.append((key, next))
                lock.signal()
            } else {
                keyed[key] = nil
            }
            if stopping { lock.broadcast() }
        }
    }
}
