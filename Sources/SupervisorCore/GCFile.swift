import Diagnostics
import Glibc
import Platform
import SystemPackage

/// garbage.json on disk, in the root directory it keeps open: the atomic
/// rewrite (Platform's AtomicFile with a fixed temporary name; each step a
/// failpoint gc.persist.write/fsync/rename/dirsync) and the tolerant,
/// streaming load. Owns the directory fd:
/// `close()` once, after the last write.
struct GCFile: Sendable {
    static let fileName = "garbage.json"
    static let tempName = "garbage.json.tmp"

    let rootDir: String
    let dirFD: Int32

    /// Opens (creating if needed) the root directory.
    init(rootDir: String) throws(SystemError) {
        self.rootDir = rootDir
        try Self.makeDirectories(rootDir)
        dirFD = try FileIO.open(rootDir, O_RDONLY | O_DIRECTORY)
    }

    func close() { Glibc.close(dirFD) }

    var path: String { "\(rootDir)/\(Self.fileName)" }

    func write(_ bytes: [UInt8]) -> Result<Void, SystemError> {
        do throws(SystemError) {
            try AtomicFile.write(bytes, directoryFD: dirFD, name: Self.fileName, mode: 0o600, directoryPath: rootDir,
                                 temporaryName: Self.tempName, failpoints: "gc.persist")
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// nil when there is no file, or when it was damaged (then kept aside
    /// and the list starts empty). Any other error (EMFILE, EIO, EACCES…)
    /// is thrown: starting empty would overwrite a good list with nothing.
    func read() throws(SystemError) -> GCFileFormat.Document? {
        // O_NONBLOCK: a FIFO planted as garbage.json must not hang the open.
        let fd: Int32
        do throws(SystemError) {
            fd = try FileIO.open(at: dirFD, Self.fileName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, display: path)
        } catch {
            if error.errno == .noSuchFileOrDirectory { return nil }
            if error.errno == .tooManySymbolicLinkLevels {
                quarantine(reason: "it is a symlink")
                return nil
            }
            throw error
        }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError.last("fstat", path: path) }
        guard st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) <= GCFileFormat.maxFileSize else {
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
            let n = chunk.withUnsafeMutableBytes { p in retryingEINTR { Glibc.read(fd, p.baseAddress, p.count) } }
            if n == 0 { break }
            if n < 0 { throw SystemError.last("read", path: path) }
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
            Log.error("\(rootDir)/\(Self.fileName) is damaged (\(reason)) and cannot be moved aside: \(Errno(rawValue: errno))")
        }
    }

    static func makeDirectories(_ path: String) throws(SystemError) {
        var prefix = ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw SystemError.last("mkdir", path: prefix) }
        }
    }
}
