import Diagnostics
import Glibc
import Platform
import SystemPackage

/// Makes the GC list durable: knows only generations and bytes.
///
/// The list's owner bumps the generation with `markDirty()` for every change
/// (while holding its own lock, so the change precedes the bump). One
/// persister thread, whenever the disk is behind, asks `snapshot` for the
/// whole file's bytes and writes them atomically (GCFile.write): everything
/// changed before a write starts rides in it — the group commit. Callers
/// that need durability `waitDurable` for their generation, without the
/// owner's lock. Its state is behind its own lock; lock order: the owner's
/// lock, then this one.
final class GCPersister: @unchecked Sendable {
    private let lock: ConditionLock
    /// The writer thread sleeps on `work` (a change, close);
    /// callers of `waitDurable` on `durableChanged` (after each write): an
    /// add wakes the writer, not every other add waiting for its write.
    private let work: Condition
    private let durableChanged: Condition
    private var generation: UInt64 = 0
    private var durableGeneration: UInt64 = 0
    private var failedGeneration: UInt64 = 0
    private var failure = SystemError(.ioError)
    private var stopping = false
    /// The thread has exited: nothing can become durable any more.
    private var closed = false
    private var thread: NativeThread?
    /// Threads blocked in `waitDurable`, for the commit delay below.
    private var waiters = 0
    /// Writes that reached the disk (tests: group commit shares them).
    private(set) var writes = 0
    /// Longest the persister waits for released writers to come back.
    private static let commitDelayNs: Int64 = 300_000

    let file: GCFile
    private let snapshot: @Sendable () -> [UInt8]
    private let onDurable: @Sendable (UInt64) -> Void

    /// `snapshot` returns the file's bytes (called on the persister thread,
    /// never with this lock held); `onDurable(g)` runs after each write that
    /// made everything up to `g` durable. The thread starts with the first
    /// change: a list that never changes costs no thread.
    init(file: GCFile, snapshot: @escaping @Sendable () -> [UInt8],
         onDurable: @escaping @Sendable (UInt64) -> Void) {
        let lock = ConditionLock()
        self.lock = lock
        work = Condition(on: lock)
        durableChanged = Condition(on: lock)
        self.file = file
        self.snapshot = snapshot
        self.onDurable = onDurable
    }

    /// A change is made: returns the generation that carries it. When the
    /// thread cannot start, the change fails its waiters (with that errno)
    /// and stays in memory; the next change tries again.
    func markDirty() -> UInt64 {
        lock.withLock {
            generation += 1
            if thread == nil && !stopping {
                do throws(Errno) {
                    thread = try NativeThread.start(name: "supv-gc-persist") { [unowned self] in self.run() }
                } catch {
                    Log.error("cannot start the GC list's writer thread: \(error)")
                    failedGeneration = generation
                    failure = SystemError(error, "pthread_create supv-gc-persist")
                }
            }
            work.signal()
            return generation
        }
    }

    /// Blocks until `generation` is durable; throws the error of the write
    /// that should have carried it.
    func waitDurable(_ generation: UInt64) throws(Errno) {
        try lock.withLock { () throws(Errno) in
            waiters += 1
            defer { waiters -= 1 }
            while durableGeneration < generation {
                if failedGeneration >= generation { throw failure.errno }
                if closed { throw Errno(rawValue: ESHUTDOWN) }
                // The persister itself (a gc_done hook calling in): the change
                // rides in its next write; waiting would wait for ourselves.
                if thread?.isCurrent == true { return }
                durableChanged.wait()
            }
        }
    }

    var durable: UInt64 { lock.withLock { durableGeneration } }

    /// The last write's failure while changes wait for a write that succeeds.
    var writeError: String? {
        lock.withLock {
            generation > durableGeneration && failedGeneration > durableGeneration
                ? "cannot write \(file.path): \(failure)" : nil
        }
    }

    /// Writes what is pending, stops the thread, closes the directory.
    /// Throws the final write's error when it failed: those changes were
    /// only in memory.
    func close() throws(SystemError) {
        lock.withLock {
            stopping = true
            work.signal()
        }
        thread?.join()
        let lost: (count: UInt64, err: SystemError)? = lock.withLock {
            closed = true
            durableChanged.broadcast()
            return generation > durableGeneration ? (generation - durableGeneration, failure) : nil
        }
        file.close()
        if let lost {
            Log.error("\(file.path): final write failed (\(lost.err)); \(lost.count) change(s) to the GC list were only in memory")
            throw lost.err
        }
    }

    private func run() {
        lock.lock()
        var retryDelayMs: Int64 = 0
        var releasedByLastWrite = 0
        persisting: while true {
            if generation == durableGeneration {
                if stopping { break persisting }
                work.wait()
                continue
            }
            // Commit delay: when the last write released several waiting
            // writers, they usually come back at once; give them a moment so
            // the next write carries all of them instead of the first one.
            if releasedByLastWrite > 1 && !stopping {
                let deadline = MonotonicClock.nowNs() + Self.commitDelayNs
                while generation - durableGeneration < UInt64(releasedByLastWrite) && !stopping {
                    if !work.wait(untilNs: deadline) { break }
                }
            }
            releasedByLastWrite = 0
            if retryDelayMs > 0 && !stopping {
                // The last write failed: retry later rather than spin.
                work.wait(untilNs: MonotonicClock.nowNs() + retryDelayMs * 1_000_000)
            }
            let target = generation
            lock.unlock()
            // Every change up to `target` was made before its markDirty, so
            // a snapshot taken now holds all of them.
            let result = file.write(snapshot())
            if case .success = result { onDurable(target) }
            lock.lock()
            switch result {
            case .success:
                durableGeneration = max(durableGeneration, target)
                writes += 1
                releasedByLastWrite = waiters
                retryDelayMs = 0
            case let .failure(err):
                failedGeneration = target
                failure = err
                retryDelayMs = min(max(retryDelayMs * 2, 100), 5_000)
                Log.error("cannot write \(file.path): \(err)")
                if stopping {
                    durableChanged.broadcast()
                    break persisting
                }
            }
            durableChanged.broadcast()
        }
        durableChanged.broadcast()
        lock.unlock()
    }
}
