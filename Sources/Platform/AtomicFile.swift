import Glibc
import Synchronization
import SystemPackage

/// Whole-file replacement that a crash cannot tear: the new content goes to
/// a temporary file in the same directory, is fsynced, renamed over the old
/// name, and the directory is fsynced so the rename itself is durable. The
/// one atomic writer of the library (exit.json, garbage.json).
public enum AtomicFile {
    private static let counter = Atomic<UInt64>(0)

    /// Replaces `directory/name` with `bytes`, created with exactly `mode`.
    public static func write(_ bytes: [UInt8], directory: String, name: String, mode: mode_t = 0o600) throws(SystemError) {
        guard !name.isEmpty, !name.contains("/") else { throw SystemError(.invalidArgument, "write", path: name) }
        let dirfd = try FileIO.open(directory, O_RDONLY | O_DIRECTORY)
        defer { close(dirfd) }
        try write(bytes, directoryFD: dirfd, name: name, mode: mode, directoryPath: directory)
    }

    /// Same, in an already open directory (`directoryPath` names it in
    /// errors). `temporaryName` nil: a unique name per write; a fixed one is
    /// removed first, so a crash leaves at most that one file behind.
    /// `failpoints` "gc.persist": the steps are failpoints gc.persist.write,
    /// .fsync, .rename and .dirsync (tests inject errors there).
    public static func write(_ bytes: [UInt8], directoryFD dirfd: Int32, name: String, mode: mode_t = 0o600,
                             directoryPath: String = ".", temporaryName: String? = nil,
                             failpoints: String? = nil) throws(SystemError) {
        let temp: String
        if let temporaryName {
            temp = temporaryName
            _ = unlinkat(dirfd, temp, 0)
        } else {
            temp = ".\(name).tmp-\(getpid())-\(counter.wrappingAdd(1, ordering: .relaxed).oldValue)"
        }
        let tempPath = directoryPath + "/" + temp
        let fd = try FileIO.open(at: dirfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode, display: tempPath)
        var failure: SystemError? = nil
        func step(_ point: StaticString, _ operation: String, _ path: String, _ ok: () -> Bool) {
            guard failure == nil else { return }
            if let e = Failpoint.check(failpoints, point) { failure = SystemError(e, operation, path: path) }
            else if !ok() { failure = SystemError.last(operation, path: path) }
        }
        // The umask may have narrowed the mode.
        if fchmod(fd, mode) != 0 { failure = SystemError.last("fchmod", path: tempPath) }
        if failure == nil, let e = Failpoint.check(failpoints, "write") { failure = SystemError(e, "write", path: tempPath) }
        if failure == nil {
            do throws(Errno) { try FileIO.writeAll(fd, bytes) } catch { failure = SystemError(error, "write", path: tempPath) }
        }
        step("fsync", "fsync", tempPath) { fsync(fd) == 0 }
        if close(fd) != 0 && failure == nil { failure = SystemError.last("close", path: tempPath) }
        step("rename", "rename", directoryPath + "/" + name) { renameat(dirfd, temp, dirfd, name) == 0 }
        if let failure {
            _ = unlinkat(dirfd, temp, 0)
            throw failure
        }
        // Past the rename the new file is in place; only the directory
        // entry's durability is left.
        step("dirsync", "fsync", directoryPath) { fsync(dirfd) == 0 }
        if let failure { throw failure }
    }
}
