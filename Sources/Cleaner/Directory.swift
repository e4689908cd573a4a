import Glibc
import Platform
import SystemPackage

/// Directory listings and lstat for the walks of the cleaner.
enum Directory {
    /// The names in the directory open at `dirfd` (without `.` and `..`),
    /// read through a second fd so `dirfd` stays usable for *at calls.
    /// The whole listing is held in memory: one directory at a time.
    static func names(_ dirfd: Int32) throws(Errno) -> [EntryName] {
        let fd = FileIO.open(at: dirfd, cString: ".", O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        guard let dir = fdopendir(fd) else {
            let e = errno
            close(fd)
            throw Errno(rawValue: e)
        }
        defer { closedir(dir) }
        var names: [EntryName] = []
        while true {
            errno = 0
            guard let ent = readdir(dir) else {
                if errno != 0 { throw Errno(rawValue: errno) }
                return names
            }
            let name: [CChar] = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                let chars = raw.bindMemory(to: CChar.self)
                var out = Array(chars.prefix(while: { $0 != 0 }))
                out.append(0)
                return out
            }
            if name == [46, 0] || name == [46, 46, 0] { continue }
            names.append(EntryName(name))
        }
    }
}

/// lstat relative to a directory fd.
func statEntry(_ dirfd: Int32, _ name: EntryName) -> (stat?, Int32) {
    var st = stat()
    let rc = name.withCString { fstatat(dirfd, $0, &st, AT_SYMLINK_NOFOLLOW) }
    return rc == 0 ? (st, 0) : (nil, errno)
}

func isDirectory(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFDIR }
