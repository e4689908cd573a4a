import CPlatform
import Diagnostics
import Glibc
import Platform
import SystemPackage

/// garbage.json on disk: the atomic rewrite (temp file, fsync, rename,
/// fsync of the directory, each step a failpoint) and the tolerant load.
extension GCStore {
    func writeFile(_ bytes: [UInt8]) -> Result<Void, Errno> {
        _ = unlinkat(dirFD, Self.tempName, 0)
        let fd = cp_openat(dirFD, Self.tempName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return .failure(Errno(rawValue: cp_errno())) }
        var failure: Errno?
        if let e = Failpoint.check("gc.persist.write") ?? Result(catching: { () throws(Errno) in try FileIO.writeAll(fd, bytes) }).failure {
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

    /// nil when there is no file, or when it was damaged (then kept aside
    /// and the list starts empty). Any other error (EMFILE, EIO, EACCES…)
    /// is thrown: starting empty would overwrite a good list with nothing.
    func readDocument() throws(Errno) -> GCFileFormat.Document? {
        // O_NONBLOCK: a FIFO planted as garbage.json must not hang the open.
        let fd = cp_openat(dirFD, Self.fileName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0)
        if fd < 0 {
            let err = cp_errno()
            if err == ENOENT { return nil }
            if err == ELOOP {
                quarantine(reason: "it is a symlink")
                return nil
            }
            Log.error("cannot open \(rootDir)/\(Self.fileName): \(Errno(rawValue: err))")
            throw Errno(rawValue: err)
        }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Errno(rawValue: cp_errno()) }
        guard cp_s_isreg(st.st_mode) != 0, Int(st.st_size) <= GCFileFormat.maxFileSize else {
            quarantine(reason: "not a regular file of at most \(GCFileFormat.maxFileSize) bytes")
            return nil
        }
        // Streamed in chunks: memory holds the decoded entries, never the
        // file's bytes or its whole tree.
        let decoder = GCFileFormat.Decoder()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var total = 0
        var damage: JSONError?
        reading: while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            if n < 0 {
                let err = cp_errno()
                if err == EINTR { continue }
                Log.error("cannot read \(rootDir)/\(Self.fileName): \(Errno(rawValue: err))")
                throw Errno(rawValue: err)
            }
            total += n
            if total > GCFileFormat.maxFileSize {
                quarantine(reason: "larger than \(GCFileFormat.maxFileSize) bytes")
                return nil
            }
            do throws(JSONError) {
                try chunk.withUnsafeBufferPointer { (p) throws(JSONError) in
                    try decoder.feed(UnsafeBufferPointer(rebasing: p[0..<n]))
                }
            } catch {
                damage = error
                break reading
            }
        }
        var doc: GCFileFormat.Document?
        if damage == nil {
            do throws(JSONError) { doc = try decoder.finish() } catch { damage = error }
        }
        guard let doc else {
            quarantine(reason: damage?.description ?? "parse error")
            return nil
        }
        for why in doc.rejected {
            Log.error("\(rootDir)/\(Self.fileName): skipped \(why); kept in the file as it is")
        }
        return doc
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

    static func makeDirectories(_ path: String) throws(Errno) {
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && cp_errno() != EEXIST { throw Errno(rawValue: cp_errno()) }
        }
    }
}

extension Result {
    var failure: Failure? {
        if case let .failure(e) = self { return e }
        return nil
    }
}
