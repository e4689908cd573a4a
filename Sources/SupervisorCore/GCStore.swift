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

    private var generation: UInt64 = 0
    private var durableGeneration: UInt64 = 0
    private var failedGeneration: UInt64 = 0
    private var failedErrno = Errno.ioError
    private var completions: [(generation: UInt64, run: @Sendable () -> Void)] = []
    private var stopping = false
    private var persister: NativeThread?
    /// Threads blocked in `waitDurableLocked`, for the commit delay below.
    private var waiters = 0
    /// Longest the persister waits for released writers to come back.
    private static let commitDelayNs: Int64 = 300_000

    let rootDir: String
    private let dirFD: Int32
    static let fileName = "garbage.json"
    private static let tempName = "garbage.json.tmp"

    /// Opens (creating if needed) the root directory and loads the list. A
    /// damaged file is kept aside as garbage.json.corrupt-<unix-time>.
    init(rootDir: String) throws(Errno) {
        self.rootDir = rootDir
        try Self.makeDirectories(rootDir)
        let fd = cp_open(rootDir, O_RDONLY | O_DIRECTORY, 0)
        guard fd >= 0 else { throw Errno(rawValue: cp_errno()) }
        dirFD = fd
        if let doc = readDocument() {
            unknownTopKeys = doc.unknownTopKeys
            for entry in doc.entries { insertLocked(entry) }
        }
        do {
            persister = try NativeThread.start(name: "supv-gc-persist") { [unowned self] in self.persistLoop() }
        } catch {
            Glibc.close(dirFD)
            throw error
        }
    }

    /// Flushes what is pending, stops the persister, closes the directory.
    func close() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        persister?.join()
        persister = nil
        Glibc.close(dirFD)
    }

    // MARK: mutations (caller holds `lock`)

    /// Inserts or replaces; returns the generation that makes it durable.
    @discardableResult
    func insertLocked(_ entry: GCEntry) -> UInt64 {
        var entry = entry
        entry.encoded = []
        entries[entry.id] = entry
        return markDirtyLocked()
    }

    @discardableResult
    func removeLocked(_ id: String) -> UInt64 {
        guard entries[id] != nil else { return generation }
        entries[id] = nil
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
            lock.wait()
        }
    }

    /// Entries in the file that memory does not have are added (gc_restore).
    func mergeFromDisk() -> [String] {
        guard let doc = readDocument() else { return [] }
        return lock.withLock {
            var added: [String] = []
            for entry in doc.entries where entries[entry.id] == nil {
                insertLocked(entry)
                added.append(entry.id)
            }
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
        var fragments: [[UInt8]] = []
        fragments.reserveCapacity(entries.count)
        entries.forEachInOrder { entry in
            if entry.encoded.isEmpty { entry.encoded = GCFileFormat.encode(entry) }
            fragments.append(entry.encoded)
        }
        return GCFileFormat.document(entries: fragments, unknownTopKeys: unknownTopKeys)
    }

    private func writeFile(_ bytes: [UInt8]) -> Result<Void, Errno> {
        _ = unlinkat(dirFD, Self.tempName, 0)
        let fd = cp_openat(dirFD, Self.tempName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return .failure(Errno(rawValue: cp_errno())) }
        var failure: Errno?
        if let e = Failpoint.check("gc.persist.write") ?? (writeAll(fd, bytes) ? nil : Errno(rawValue: cp_errno())) {
            failure = e
        } else if let e = Failpoint.check("gc.persist.fsync") ?? (fsync(fd) == 0 ? nil : Errno(rawValue: cp_errno())) {
            failure = e
        }
        if Glibc.close(fd) != 0 && failure == nil { failure = Errno(rawValue: cp_errno()) }
        if failure == nil {
            failure = Failpoint.check("gc.persist.rename")
                ?? (renameat(dirFD, Self.tempName, dirFD, Self.fileName) == 0 ? nil : Errno(rawValue: cp_errno()))
            if failure == nil {
                // Past the rename the new list is in place; only the directory
                // entry's durability is left.
                failure = Failpoint.check("gc.persist.dirsync") ?? (fsync(dirFD) == 0 ? nil : Errno(rawValue: cp_errno()))
            }
        }
        if let failure {
            _ = unlinkat(dirFD, Self.tempName, 0)
            return .failure(failure)
        }
        return .success(())
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if cp_errno() == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }

    // MARK: loading

    /// nil when there is no file or it was damaged (then kept aside).
    private func readDocument() -> GCFileFormat.Document? {
        let fd = cp_openat(dirFD, Self.fileName, O_RDONLY | O_NOFOLLOW, 0)
        if fd < 0 {
            let err = cp_errno()
            if err == ENOENT { return nil }
            Log.error("cannot open \(rootDir)/\(Self.fileName): \(Errno(rawValue: err))")
            if err == ELOOP { quarantine(reason: "it is a symlink") }
            return nil
        }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        guard cp_s_isreg(st.st_mode) != 0, Int(st.st_size) <= GCFileFormat.maxFileSize else {
            quarantine(reason: "not a regular file of at most \(GCFileFormat.maxFileSize) bytes")
            return nil
        }
        guard let bytes = readAll(fd, limit: GCFileFormat.maxFileSize) else {
            Log.error("cannot read \(rootDir)/\(Self.fileName): \(Errno(rawValue: cp_errno()))")
            return nil
        }
        do {
            let doc = try GCFileFormat.decode(bytes)
            for why in doc.rejected { Log.error("\(rootDir)/\(Self.fileName): skipped \(why)") }
            return doc
        } catch {
            quarantine(reason: error.description)
            return nil
        }
    }

    private func readAll(_ fd: Int32, limit: Int) -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count <= limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 {
                if cp_errno() == EINTR { continue }
                return nil
            }
            out.append(contentsOf: chunk[0..<n])
        }
        return nil
    }

    /// Renames a damaged file to garbage.json.corrupt-<unix-time> so the
    /// engine can start while the evidence is kept.
    private func quarantine(reason: String) {
        let stamp = time(nil)
        var name = "\(Self.fileName).corrupt-\(stamp)"
        var n = 1
        while faccessat(dirFD, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 {
            name = "\(Self.fileName).corrupt-\(stamp)-\(n)"
            n += 1
        }
        if renameat(dirFD, Self.fileName, dirFD, name) == 0 {
            Log.error("\(rootDir)/\(Self.fileName) is damaged (\(reason)); kept as \(name), starting with an empty GC list")
        } else {
            Log.error("\(rootDir)/\(Self.fileName) is damaged (\(reason)) and cannot be moved aside: \(Errno(rawValue: cp_errno()))")
        }
    }

    private static func makeDirectories(_ path: String) throws(Errno) {
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && cp_errno() != EEXIST { throw Errno(rawValue: cp_errno()) }
        }
    }
}
