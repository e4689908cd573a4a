import Diagnostics
import CPlatform
import Glibc
import Platform
import SystemPackage

/// The GC list in memory and its durable copy, `<root_dir>/garbage.json`.
///
/// Mutations happen in memory under `lock` and bump `generation`; one
/// persister thread writes the whole list (temp file, fsync, rename, fsync of
/// the directory) whenever it is behind. Everything changed before a write
/// starts rides in it: that is the group commit. Callers that need
/// durability wait for `durableGeneration` to pass their generation.
final class GCStore: @unchecked Sendable {
    let lock = ConditionLock()
    /// Guarded by `lock` (also used by the collector for scheduling fields).
    var entries = GCEntryTable()
    private var unknownTopKeys: [(String, JSONValue)] = []
    /// Entries of the file that failed validation, kept as read (written
    /// back after the valid ones), with their serialized form for gc_restore.
    private var refusedEntries: [JSONValue] = []
    private var refusedSeen: Set<[UInt8]> = []
    /// Ids removed in memory whose removal is not durable yet, with the
    /// generation that carries it (gc_restore must not bring them back).
    private var pendingRemovals: [String: UInt64] = [:]

    private var generation: UInt64 = 0
    private var durableGeneration: UInt64 = 0
    private var failedGeneration: UInt64 = 0
    private var failedErrno = Errno.ioError
    private var completions: [(generation: UInt64, run: @Sendable () -> Void)] = []
    private var stopping = false
    /// The persister has exited: nothing can become durable any more.
    private(set) var closed = false
    private var persister: NativeThread?
    /// Threads blocked in `waitDurableLocked`, for the commit delay below.
    private var waiters = 0
    /// Longest the persister waits for released writers to come back.
    private static let commitDelayNs: Int64 = 300_000

    let rootDir: String
    let dirFD: Int32
    static let fileName = "garbage.json"
    static let tempName = "garbage.json.tmp"

    /// Opens (creating if needed) the root directory and loads the list. A
    /// damaged file is kept aside as garbage.json.corrupt-<unix-time>.
    init(rootDir: String) throws(Errno) {
        self.rootDir = rootDir
        try Self.makeDirectories(rootDir)
        let fd = cp_open(rootDir, O_RDONLY | O_DIRECTORY, 0)
        guard fd >= 0 else { throw Errno(rawValue: cp_errno()) }
        dirFD = fd
        let doc: GCFileFormat.Document?
        do throws(Errno) {
            doc = try readDocument()
        } catch {
            Glibc.close(fd)
            throw error
        }
        if let doc {
            unknownTopKeys = doc.unknownTopKeys
            // The file already holds these: no rewrite until something changes.
            for entry in doc.entries { entries[entry.id] = entry }
            addRefusedLocked(doc.refusedEntries)
        }
        do {
            persister = try NativeThread.start(name: "supv-gc-persist") { [unowned self] in self.persistLoop() }
        } catch {
            Glibc.close(dirFD)
            throw error
        }
    }

    /// Flushes what is pending, stops the persister, closes the directory.
    /// Throws the errno of the final write when it failed: changes are then
    /// only in memory, and are lost with it.
    func close() throws(Errno) {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        persister?.join()
        persister = nil
        let lost: (count: UInt64, err: Errno)? = lock.withLock {
            closed = true
            lock.broadcast()
            return generation > durableGeneration ? (generation - durableGeneration, failedErrno) : nil
        }
        Glibc.close(dirFD)
        if let lost {
            Log.error("\(rootDir)/\(Self.fileName): final write failed (\(lost.err)); \(lost.count) change(s) to the GC list were only in memory")
            throw lost.err
        }
    }

    /// The last write's failure while changes wait for a write that succeeds.
    var writeError: String? {
        lock.withLock {
            generation > durableGeneration && failedGeneration > durableGeneration
                ? "cannot write \(rootDir)/\(Self.fileName): \(failedErrno)" : nil
        }
    }

    private func addRefusedLocked(_ items: [JSONValue]) {
        for item in items where refusedSeen.insert(JSON.serialize(item)).inserted {
            refusedEntries.append(item)
        }
    }

    // MARK: mutations (caller holds `lock`)

    /// Inserts or replaces; returns the generation that makes it durable.
    @discardableResult
    func insertLocked(_ entry: GCEntry) -> UInt64 {
        var entry = entry
        entry.encoded = []
        entries[entry.id] = entry
        pendingRemovals[entry.id] = nil
        return markDirtyLocked()
    }

    @discardableResult
    func removeLocked(_ id: String) -> UInt64 {
        guard entries[id] != nil else { return generation }
        entries[id] = nil
        pendingRemovals[id] = generation + 1
        return markDirtyLocked()
    }

    /// Re-encode entry `id` at the next write (its persisted fields changed).
    @discardableResult
    func touchLocked(_ id: String) -> UInt64 {
        guard entries[id] != nil else { return generation }
        entries.update(id) { $0.encoded = [] }
        return markDirtyLocked()
    }

    private func markDirtyLocked() -> UInt64 {
        generation += 1
        lock.broadcast()
        return generation
    }

    /// Runs `body` once everything up to `generation` is on disk.
    func afterDurableLocked(_ generation: UInt64, _ body: @escaping @Sendable () -> Void) {
        if durableGeneration >= generation {
            completions.append((0, body))
        } else {
            completions.append((generation, body))
        }
        lock.broadcast()
    }

    /// Blocks until `generation` is durable; throws the write's error if the
    /// write that carried it failed.
    func waitDurableLocked(_ generation: UInt64) throws(Errno) {
        waiters += 1
        defer { waiters -= 1 }
        while durableGeneration < generation {
            if failedGeneration >= generation { throw failedErrno }
            if closed { throw Errno(rawValue: ESHUTDOWN) }
            // The persister itself (a gc_done hook calling in): the change
            // rides in its next write; waiting would wait for ourselves.
            if persister?.isCurrent == true { return }
            lock.wait()
        }
    }

    /// Entries in the file that memory does not have are added (gc_restore).
    /// Read under the lock, and ids whose removal is not on disk yet are
    /// skipped: a removal in flight is never resurrected.
    func mergeFromDisk() throws(Errno) -> [String] {
        try lock.withLock { () throws(Errno) -> [String] in
            guard let doc = try readDocument() else { return [] }
            var added: [String] = []
            for entry in doc.entries where entries[entry.id] == nil && pendingRemovals[entry.id] == nil {
                insertLocked(entry)
                added.append(entry.id)
            }
            let refused = refusedEntries.count
            addRefusedLocked(doc.refusedEntries)
            if refusedEntries.count != refused { _ = markDirtyLocked() }
            return added
        }
    }

    // MARK: persistence

    private func persistLoop() {
        WorkerPool.onWorkerThread.set(true)
        lock.lock()
        var retryDelayMs: Int64 = 0
        var releasedByLastWrite = 0
        persisting: while true {
            let runnable = completions.filter { $0.generation <= durableGeneration }
            if !runnable.isEmpty {
                completions.removeAll { $0.generation <= durableGeneration }
                lock.unlock()
                for c in runnable { c.run() }
                lock.lock()
                continue
            }
            if generation == durableGeneration {
                if stopping { break persisting }
                lock.wait()
                continue
            }
            // Commit delay: when the last write released several waiting
            // writers, they usually come back at once; give them a moment so
            // the next write carries all of them instead of the first one.
            if releasedByLastWrite > 1 && !stopping {
                let deadline = MonotonicClock.nowNs() + Self.commitDelayNs
                while generation - durableGeneration < UInt64(releasedByLastWrite) && !stopping {
                    if !lock.wait(untilNs: deadline) { break }
                }
            }
            releasedByLastWrite = 0
            if retryDelayMs > 0 && !stopping {
                // The last write failed: retry later rather than spin.
                lock.wait(untilNs: MonotonicClock.nowNs() + retryDelayMs * 1_000_000)
            }
            let target = generation
            let bytes = snapshotLocked()
            lock.unlock()
            let result = writeFile(bytes)
            lock.lock()
            switch result {
            case .success:
                durableGeneration = max(durableGeneration, target)
                if !pendingRemovals.isEmpty {
                    pendingRemovals = pendingRemovals.filter { $0.value > durableGeneration }
                }
                releasedByLastWrite = waiters
                retryDelayMs = 0
            case let .failure(err):
                failedGeneration = target
                failedErrno = err
                retryDelayMs = min(max(retryDelayMs * 2, 100), 5_000)
                Log.error("cannot write \(rootDir)/\(Self.fileName): \(err)")
                if stopping {
                    lock.broadcast()
                    break persisting
                }
            }
            lock.broadcast()
        }
        lock.broadcast()
        lock.unlock()
    }

    /// The file's bytes; entries changed since the last write are encoded
    /// now, the others reuse their bytes.
    private func snapshotLocked() -> [UInt8] {
        var size = 64
        entries.forEachInOrder { entry in
            if entry.encoded.isEmpty { entry.encoded = GCFileFormat.encode(entry) }
            size += entry.encoded.count + 1
        }
        var out = GCFileFormat.beginDocument(capacity: size)
        entries.forEachInOrder { GCFileFormat.appendEntry($0.encoded, to: &out) }
        GCFileFormat.endDocument(&out, refusedEntries: refusedEntries, unknownTopKeys: unknownTopKeys)
        return out
    }
}
