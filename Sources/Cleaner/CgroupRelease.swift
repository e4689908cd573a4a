import Glibc
import Platform
import SystemPackage

extension BuiltinCleaner {
    /// How long one attempt waits for killed members to exit.
    static let cgroupEmptyWaitMs: Int64 = 2000
    /// Kill rounds per attempt (a member forking while it is killed).
    static let cgroupKillRounds = 3

    /// Empties and removes `value` (relative to each hierarchy root) in every
    /// mounted v1 hierarchy and the v2 one, children before parents.
    func releaseCgroup(_ value: String) -> CleanOutcome {
        let relative = value.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        guard !relative.isEmpty else { return .blocked("refusing to remove a cgroup hierarchy root") }
        let hierarchies: [CgroupHierarchy]
        do {
            hierarchies = try CgroupFS.hierarchies()
        } catch {
            return .retry("cannot read the mount table: \(error)")
        }
        var work = CgroupRemoval(relative: relative, capabilities: capabilities)
        defer { work.closeAll() }
        work.open(hierarchies)
        if work.groups.isEmpty, work.problems.isEmpty, work.blocked == nil { return .released }
        work.killMembers()
        work.removeAll()
        if let blocked = work.blocked { return .blocked(blocked) }
        if work.problems.isEmpty { return .released }
        let more = work.problems.count > 1 ? " (and \(work.problems.count - 1) more)" : ""
        return .retry(work.problems[0] + more)
    }
}

/// One cgroup (the tracked one, in one hierarchy), open as a directory.
struct OpenCgroup {
    var hierarchy: CgroupHierarchy
    var path: String
    var fd: Int32
}

struct CgroupRemoval {
    /// Cgroup trees are shallow; deeper nesting is reported, not walked.
    static let maxDepth = 64

    let relative: String
    let capabilities: Capabilities
    var groups: [OpenCgroup] = []
    var problems: [String] = []
    var blocked: String?

    init(relative: String, capabilities: Capabilities) {
        self.relative = relative
        self.capabilities = capabilities
    }

    mutating func open(_ hierarchies: [CgroupHierarchy]) {
        for h in hierarchies {
            let path = h.mountPoint + "/" + relative
            let fd = FileIO.open(at: AT_FDCWD, cString: path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            if fd >= 0 {
                groups.append(OpenCgroup(hierarchy: h, path: path, fd: fd))
            } else if errno != ENOENT {
                note("open \(path)", errno)
            }
        }
    }

    mutating func closeAll() {
        for g in groups { close(g.fd) }
        groups = []
    }

    // MARK: kill

    /// Kills every process left in the cgroups and waits (bounded, on pidfds
    /// and v2 `cgroup.events`) for them to exit.
    mutating func killMembers() {
        for _ in 0..<BuiltinCleaner.cgroupKillRounds {
            let pids = memberPIDs()
            let v2 = groups.first(where: { $0.hierarchy.isV2 })
            let populated = v2.map { isPopulated($0) } ?? false
            if pids.isEmpty && !populated { return }
            // pidfds first, so a PID reused after the kill is never signalled.
            let me = getpid()
            var pinned: [(pid_t, PIDFD)] = []
            for pid in pids where pid != me {
                if let fd = try? PIDFD(pid: pid) { pinned.append((pid, fd)) }
            }
            // A member that exited between the listing and pidfd_open may have
            // had its pid reused by an outsider: keep only pids still listed
            // now that each pidfd pins one process.
            let stillMembers = pinned.isEmpty ? [] : memberPIDs()
            let pidfds = pinned.filter { stillMembers.contains($0.0) }.map(\.1)
            if let v2, hasFile(v2, "cgroup.kill") {
                write(v2, "cgroup.kill", "1")
                signal(pidfds)  // members in v1 hierarchies only
            } else {
                freeze(true)
                signal(pidfds)
                freeze(false)
            }
            if blocked != nil { return }
            waitForExit(pidfds, v2: v2)
        }
    }

    /// PIDs in cgroup.procs of the tracked cgroups and their descendants.
    private mutating func memberPIDs() -> Set<pid_t> {
        var pids = Set<pid_t>()
        for g in groups {
            Self.visit(g.fd, g.path, depth: 0, postOrder: false) { fd, path, this in
                guard let bytes = try? KernelFile.read(at: fd, "cgroup.procs") else { return }
                for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                    if let pid = pid_t(line), pid > 0 { pids.insert(pid) }
                }
            }
        }
        return pids
    }

    private mutating func signal(_ pidfds: [PIDFD]) {
        for fd in pidfds {
            let e: Int32
            do throws(Errno) { try fd.signal(SIGKILL); continue } catch { e = error.rawValue }
            if e == ESRCH { continue }
            if e == EPERM && !capabilities.has(.kill) {
                blocked = "needs CAP_KILL to kill the processes left in cgroup \(relative)"
            } else {
                note("kill a process in cgroup \(relative)", e)
            }
        }
    }

    /// v2 `cgroup.freeze` and the v1 freezer, where the tracked cgroup has
    /// them; the kill then cannot race with a fork. Best effort.
    private mutating func freeze(_ on: Bool) {
        for g in groups {
            if g.hierarchy.isV2, hasFile(g, "cgroup.freeze") {
                write(g, "cgroup.freeze", on ? "1" : "0")
            } else if g.hierarchy.hasFreezer, hasFile(g, "freezer.state") {
                write(g, "freezer.state", on ? "FROZEN" : "THAWED")
            }
        }
    }

    /// Waits until every pidfd reports exit and the v2 cgroup reports
    /// `populated 0` (cgroup.events raises POLLPRI on change), or the deadline.
    private func waitForExit(_ pidfds: [PIDFD], v2: OpenCgroup?) {
        let deadline = MonotonicClock.nowMs() + BuiltinCleaner.cgroupEmptyWaitMs
        var pending = pidfds.map(\.rawValue)
        let eventsFD = v2.map { FileIO.open(at: $0.fd, cString: "cgroup.events", O_RDONLY | O_NOFOLLOW) } ?? -1
        defer { if eventsFD >= 0 { close(eventsFD) } }
        var watchEvents = eventsFD >= 0
        while true {
            if watchEvents, !populatedFlag(eventsFD) { watchEvents = false }
            if pending.isEmpty && !watchEvents { return }
            let remaining = deadline - MonotonicClock.nowMs()
            if remaining <= 0 { return }
            var fds = pending.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if watchEvents { fds.append(pollfd(fd: eventsFD, events: Int16(POLLPRI), revents: 0)) }
            let n = poll(&fds, nfds_t(fds.count), Int32(remaining))
            if n < 0 && errno != EINTR { return }
            if n <= 0 { continue }
            pending = fds.prefix(pending.count).filter { $0.revents == 0 }.map(\.fd)
        }
    }

    private func isPopulated(_ g: OpenCgroup) -> Bool {
        let fd = FileIO.open(at: g.fd, cString: "cgroup.events", O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return populatedFlag(fd)
    }

    /// "populated 1" in cgroup.events, re-read from offset 0.
    private func populatedFlag(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        return String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").contains("populated 1")
    }

    private func hasFile(_ g: OpenCgroup, _ name: String) -> Bool {
        faccessat(g.fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0
    }

    private mutating func write(_ g: OpenCgroup, _ name: String, _ text: String) {
        do {
            try KernelFile.write(at: g.fd, name, text)
        } catch {
            note("write \(text) to \(g.path)/\(name)", error.errno.rawValue)
        }
    }

    // MARK: remove

    /// rmdir of every tracked cgroup, descendants first.
    mutating func removeAll() {
        for g in groups {
            Self.visit(g.fd, g.path, depth: 0, postOrder: true) { parentFD, path, name in
                guard let name else { return }
                if name.withCString({ unlinkat(parentFD, $0, AT_REMOVEDIR) }) != 0, errno != ENOENT {
                    note("rmdir \(path)", errno)
                }
            }
            if rmdir(g.path) != 0, errno != ENOENT { note("rmdir \(g.path)", errno) }
        }
    }

    /// Walks the cgroup directories below `fd`, never following a symlink.
    /// Pre-order: `body(dirfd, path, nil)` for each directory, itself first.
    /// Post-order: `body(parentfd, path, name)` for each child directory
    /// after its own children (the top itself is the caller's).
    private static func visit(_ fd: Int32, _ path: String, depth: Int, postOrder: Bool,
                              _ body: (Int32, String, EntryName?) -> Void) {
        if !postOrder { body(fd, path, nil) }
        // Deeper trees are left (rmdir then fails with EBUSY and says so).
        guard depth < Self.maxDepth else { return }
        guard let names = try? Directory.names(fd) else { return }
        for name in names {
            guard let st = statEntry(fd, name).0, isDirectory(st) else { continue }
            let child = name.withCString { FileIO.open(at: fd, cString: $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) }
            guard child >= 0 else { continue }
            let childPath = path + "/" + name.display
            Self.visit(child, childPath, depth: depth + 1, postOrder: postOrder, body)
            close(child)
            if postOrder { body(fd, childPath, name) }
        }
    }

    private mutating func note(_ what: String, _ e: Int32?) {
        guard let e else { problems.append(what); return }
        let text = "\(what): \(Errno(rawValue: e))"
        if (e == EACCES || e == EPERM), !capabilities.has(.dacOverride) {
            blocked = "needs CAP_DAC_OVERRIDE to remove cgroup \(relative) (\(text))"
        } else if e == EROFS {
            blocked = text
        } else {
            problems.append(text)
        }
    }
}
