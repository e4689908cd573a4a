import CPlatform
import Diagnostics
import Glibc
import Platform
import SystemPackage

extension BuiltinCleaner {
    /// Removes `path` and everything below it without following a symlink
    /// in any component: the parent is resolved from `/` with openat2
    /// RESOLVE_NO_SYMLINKS (else one O_NOFOLLOW|O_DIRECTORY component at a
    /// time), and a symlink (or non-directory) on the way means nothing of
    /// ours is there: nothing removed, a warning, `.released`. A symlink as
    /// the last component is unlinked itself. Below the top, no crossing into
    /// another mount (st_dev and the fd's mount id are compared with the
    /// top's): a mount point inside is left alone and reported as `.retry`.
    func removeTree(_ path: String) -> CleanOutcome {
        // "/x/./y/" -> "/x/y": rmdir refuses a final "." (values have no "..").
        var removal = TreeRemoval(top: MountInfo.lexicallyClean(path), capabilities: capabilities)
        return removal.run()
    }
}

/// Iterative depth-first removal holding at most `fdBudget` directory fds:
/// past it the fds of the shallowest open levels are closed, and a level is
/// re-opened by name from its nearest open ancestor when the walk returns to
/// it, checking (st_dev, st_ino) so a directory swapped in meanwhile (a rename
/// race) is never entered.
struct TreeRemoval {
    static let fdBudget = 16

    struct Level {
        var name: EntryName
        var fd: Int32
        var dev: UInt64
        var ino: UInt64
        var entries: [EntryName]?
        var next = 0
        /// Something inside could not be removed: do not rmdir this level.
        var kept = false
    }

    let top: String
    let capabilities: Capabilities
    /// The top's parent directory, resolved without symlinks; its last name.
    var parentFD: Int32 = -1
    var leaf = ""
    var levels: [Level] = []
    var topDev: UInt64 = 0
    var topMount: Int?
    var problems: [String] = []
    var blocked: String?

    init(top: String, capabilities: Capabilities) {
        self.top = top
        self.capabilities = capabilities
    }

    mutating func run() -> CleanOutcome {
        defer {
            for l in levels where l.fd >= 0 { close(l.fd) }
            if parentFD >= 0 { close(parentFD) }
        }
        let components = top.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        // Validation refuses "/" and ".."; lexicallyClean dropped ".".
        guard let last = components.last, last != ".." else { return fail("resolve \(top)", EINVAL) }
        leaf = last
        let (fd0, e) = Self.openDirectoryNoSymlinks(components.dropLast())
        switch e {
        case 0:
            parentFD = fd0
        case ELOOP, ENOTDIR:
            // Not the directory that was tracked: a container that can write
            // a parent must not redirect the removal through a symlink.
            Log.warning("\(top): a component of the path is a symlink or not a directory; nothing of this container's there, not removing anything")
            return .released
        default:
            return e == ENOENT ? .released : fail("open the parent of \(top)", e)
        }
        var st = stat()
        guard fstatat(parentFD, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            let e = errno
            return e == ENOENT ? .released : fail("stat \(top)", e)
        }
        guard isDirectory(st) else {
            // A file, symlink, socket...: unlink the entry itself.
            if unlinkat(parentFD, leaf, 0) == 0 || errno == ENOENT { return .released }
            return fail("unlink \(top)", errno)
        }
        let fd = FileIO.open(at: parentFD, cString: leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard fd >= 0 else {
            let e = errno
            return e == ENOENT ? .released : fail("open \(top)", e)
        }
        var fst = stat()
        guard fstat(fd, &fst) == 0, fst.st_dev == st.st_dev, fst.st_ino == st.st_ino else {
            close(fd)
            return .retry("\(top) changed while opening it")
        }
        topDev = UInt64(fst.st_dev)
        topMount = MountInfo.mountID(ofFD: fd)
        if let reason = topIsMountPoint() {
            close(fd)
            return .retry(reason)
        }
        levels = [Level(name: EntryName(top), fd: fd, dev: UInt64(fst.st_dev), ino: UInt64(fst.st_ino))]
        walk()
        if let blocked { return .blocked(blocked) }
        if problems.isEmpty { return .released }
        let more = problems.count > 1 ? " (and \(problems.count - 1) more)" : ""
        return .retry(problems[0] + more)
    }

    /// The directory `/<components...>`, with no symlink (magic links
    /// included) in any component: (fd, 0), or (-1, errno): ELOOP for a
    /// symlink, ENOTDIR for a file.
    /// `openat2: false` takes the fallback walk (tests).
    static func openDirectoryNoSymlinks(_ components: ArraySlice<String>, openat2: Bool = true) -> (Int32, Int32) {
        if openat2 {
            let path = "/" + components.joined(separator: "/")
            let fd = cp_openat2_no_symlinks(AT_FDCWD, path, O_RDONLY | O_DIRECTORY)
            if fd >= 0 { return (fd, 0) }
            let e = errno
            // ENOSYS: no openat2 (kernel < 5.6, or a seccomp filter); walk instead.
            guard e == ENOSYS || e == EPERM else { return (-1, e) }
        }
        var dirfd = FileIO.open(at: AT_FDCWD, cString: "/", O_RDONLY | O_DIRECTORY)
        guard dirfd >= 0 else { return (-1, errno) }
        for name in components {
            let next = FileIO.open(at: dirfd, cString: name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            let err = errno
            close(dirfd)
            guard next >= 0 else { return (-1, err) }
            dirfd = next
        }
        return (dirfd, 0)
    }

    /// The top itself mounted over (a mount root): what is there belongs to
    /// that mount, so nothing is removed until it is unmounted.
    private func topIsMountPoint() -> String? {
        var pst = stat()
        if fstat(parentFD, &pst) == 0, UInt64(pst.st_dev) != topDev {
            return "\(top) is a mount point; not removing what is mounted there"
        }
        if let mine = topMount, let theirs = MountInfo.mountID(ofFD: parentFD), mine != theirs {
            return "\(top) is a mount point; not removing what is mounted there"
        }
        return nil
    }

    private mutating func walk() {
        while !levels.isEmpty, blocked == nil {
            let i = levels.count - 1
            guard ensureOpen(i) else { return }
            if levels[i].entries == nil {
                do {
                    levels[i].entries = try Directory.names(levels[i].fd)
                } catch {
                    levels[i].entries = []
                    levels[i].kept = true
                    note("read \(displayPath(i))", error.rawValue)
                }
            }
            if let entries = levels[i].entries, levels[i].next < entries.count {
                let name = entries[levels[i].next]
                levels[i].next += 1
                removeEntry(name, in: i)
            } else {
                finishLevel(i)
            }
        }
    }

    /// Unlinks a non-directory, or pushes a directory as a new level.
    private mutating func removeEntry(_ name: EntryName, in i: Int) {
        let dirfd = levels[i].fd
        let (st, e) = statEntry(dirfd, name)
        guard let st else {
            if e != ENOENT { levels[i].kept = true; note("stat \(displayPath(i, name))", e) }
            return
        }
        guard isDirectory(st) else {
            if name.withCString({ unlinkat(dirfd, $0, 0) }) != 0, errno != ENOENT {
                let e = errno
                levels[i].kept = true
                note(e == EBUSY ? "\(displayPath(i, name)) is a mount point" : "unlink \(displayPath(i, name))", e)
            }
            return
        }
        guard UInt64(st.st_dev) == topDev else {
            levels[i].kept = true
            note("\(displayPath(i, name)) is a mount point; not descending", nil)
            return
        }
        // A mount point on the same filesystem (a bind mount) is recognised
        // without opening it: an open fd would make the owner's umount EBUSY.
        if name.withCString({ cp_is_mount_root(dirfd, $0) }) == 1 {
            levels[i].kept = true
            note("\(displayPath(i, name)) is a mount point; not descending", nil)
            return
        }
        let fd = name.withCString { FileIO.open(at: dirfd, cString: $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) }
        guard fd >= 0 else {
            let e = errno
            if e != ENOENT { levels[i].kept = true; note("open \(displayPath(i, name))", e) }
            return
        }
        var fst = stat()
        guard fstat(fd, &fst) == 0, fst.st_dev == st.st_dev, fst.st_ino == st.st_ino else {
            // Mounted over between fstatat and openat, or swapped: leave it.
            close(fd)
            levels[i].kept = true
            note("\(displayPath(i, name)) changed while opening it", nil)
            return
        }
        if let mine = topMount, let theirs = MountInfo.mountID(ofFD: fd), mine != theirs {
            close(fd)
            levels[i].kept = true
            note("\(displayPath(i, name)) is a mount point; not descending", nil)
            return
        }
        levels.append(Level(name: name, fd: fd, dev: UInt64(fst.st_dev), ino: UInt64(fst.st_ino)))
        enforceBudget()
    }

    /// All entries handled: close the level and rmdir it from its parent.
    private mutating func finishLevel(_ i: Int) {
        let level = levels.removeLast()
        if level.fd >= 0 { close(level.fd) }
        if i == 0 {
            guard !level.kept else { return }
            if unlinkat(parentFD, leaf, AT_REMOVEDIR) != 0, errno != ENOENT { note("rmdir \(top)", errno) }
            return
        }
        let p = i - 1
        if level.kept { levels[p].kept = true; return }
        guard ensureOpen(p) else { return }
        if level.name.withCString({ unlinkat(levels[p].fd, $0, AT_REMOVEDIR) }) != 0, errno != ENOENT {
            let e = errno
            levels[p].kept = true
            note("rmdir \(displayPath(p, level.name))", e)
        }
    }

    /// Closes the shallowest open fds (never the top's) beyond the budget.
    private mutating func enforceBudget() {
        var open = levels.reduce(0) { $0 + ($1.fd >= 0 ? 1 : 0) }
        var j = 1
        while open > Self.fdBudget, j < levels.count - 1 {
            if levels[j].fd >= 0 {
                close(levels[j].fd)
                levels[j].fd = -1
                open -= 1
            }
            j += 1
        }
    }

    /// Re-opens level `i` by name from its nearest open ancestor when its fd
    /// was closed for the budget; false (with a problem noted) if the tree
    /// changed under us.
    private mutating func ensureOpen(_ i: Int) -> Bool {
        guard levels[i].fd < 0 else { return true }
        var k = i
        while k > 0, levels[k - 1].fd < 0 { k -= 1 }
        // levels[k-1] is open (level 0 always is); open k...i in turn.
        var parentFD = levels[k - 1].fd
        var opened: [Int32] = []
        defer { for fd in opened.dropLast() { close(fd) } }
        for j in k...i {
            let fd = levels[j].name.withCString { FileIO.open(at: parentFD, cString: $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) }
            var st = stat()
            guard fd >= 0, fstat(fd, &st) == 0, UInt64(st.st_dev) == levels[j].dev, UInt64(st.st_ino) == levels[j].ino else {
                if fd >= 0 { close(fd) }
                for f in opened { close(f) }
                opened = []
                note("\(displayPath(j)) changed during removal", nil)
                // Abandon this attempt: the next one starts from the top.
                for l in levels where l.fd >= 0 { close(l.fd) }
                levels = []
                return false
            }
            opened.append(fd)
            parentFD = fd
        }
        levels[i].fd = parentFD
        return true
    }

    private mutating func note(_ what: String, _ e: Int32?) {
        guard let e else { problems.append(what); return }
        let text = "\(what): \(Errno(rawValue: e))"
        switch e {
        case EACCES, EPERM:
            blocked = capabilities.has(.dacOverride) && capabilities.has(.fowner)
                ? text : "needs CAP_DAC_OVERRIDE and CAP_FOWNER to remove \(top) (\(text))"
        case EROFS:
            blocked = text
        default:
            problems.append(text)
        }
    }

    private mutating func fail(_ what: String, _ e: Int32) -> CleanOutcome {
        note(what, e)
        if let blocked { return .blocked(blocked) }
        return .retry(problems.last ?? what)
    }

    private func displayPath(_ i: Int, _ leaf: EntryName? = nil) -> String {
        var parts = levels[0...i].map { $0.name.display }
        if let leaf { parts.append(leaf.display) }
        return parts.joined(separator: "/")
    }
}
