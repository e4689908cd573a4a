import Glibc
import SystemPackage

/// Short errno names for log lines and retry reasons ("umount /x: EBUSY").
func errnoName(_ e: Int32) -> String {
    switch e {
    case EPERM: return "EPERM"
    case ENOENT: return "ENOENT"
    case ESRCH: return "ESRCH"
    case EINTR: return "EINTR"
    case EIO: return "EIO"
    case EBADF: return "EBADF"
    case EACCES: return "EACCES"
    case EBUSY: return "EBUSY"
    case EEXIST: return "EEXIST"
    case EXDEV: return "EXDEV"
    case ENOTDIR: return "ENOTDIR"
    case EISDIR: return "EISDIR"
    case EINVAL: return "EINVAL"
    case EMFILE: return "EMFILE"
    case ENFILE: return "ENFILE"
    case EROFS: return "EROFS"
    case ETXTBSY: return "ETXTBSY"
    case ENAMETOOLONG: return "ENAMETOOLONG"
    case ENOTEMPTY: return "ENOTEMPTY"
    case ELOOP: return "ELOOP"
    case ENOMEM: return "ENOMEM"
    case ENOSPC: return "ENOSPC"
    default: return "errno \(e)"
    }
}

func errnoName(_ e: Errno) -> String { errnoName(e.rawValue) }

/// A directory entry's name as the kernel gave it: raw bytes, NUL-terminated,
/// so a name that is not valid UTF-8 is still passed back intact.
struct EntryName {
    var bytes: [CChar]

    init(_ bytes: [CChar]) { self.bytes = bytes }
    init(_ s: String) { bytes = Array(s.utf8CString) }

    var display: String {
        String(decoding: bytes.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

enum Directory {
    /// The names in the directory open at `dirfd` (without `.` and `..`),
    /// read through a second fd so `dirfd` stays usable for *at calls.
    /// The whole listing is held in memory: one directory at a time.
    static func names(_ dirfd: Int32) throws(Errno) -> [EntryName] {
        let fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
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
