import CShim

/// Whole-file replacement a crash cannot tear: temp file in the same
/// directory, fsync, rename, fsync of the directory.
enum AtomicFile {
    static func write(_ bytes: [UInt8], directory: String, name: String, mode: UInt32) throws(Errno) {
        let dir = try FD(open: directory, O_RDONLY | O_DIRECTORY)
        let temp = ".\(name).tmp-\(getpid())"
        do throws(Errno) {
            let fd = try FD(openat: dir, temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: mode)
            // The umask may have narrowed the mode.
            guard fchmod(fd.raw, mode_t(mode)) == 0 else { throw Errno.current }
            try fd.writeAll(bytes)
            guard fsync(fd.raw) == 0 else { throw Errno.current }
            guard close(fd.release()) == 0 else { throw Errno.current }
            guard renameat(dir.raw, temp, dir.raw, name) == 0 else { throw Errno.current }
        } catch {
            _ = unlinkat(dir.raw, temp, 0)
            throw error
        }
        guard fsync(dir.raw) == 0 else { throw Errno.current }
    }
}
