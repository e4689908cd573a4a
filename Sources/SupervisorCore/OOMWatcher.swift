import Diagnostics
import CPlatform
import Glibc
import Platform
import Synchronization
import SystemPackage

/// Watches the OOM-kill counters of the cgroups tracked for armed containers,
/// inside the exit supervisor's epoll set: one shared inotify instance for
/// every v2 `memory.events`, one eventfd per v1 memory cgroup, one timerfd
/// for the v1 follow-up reads. No thread and no polling of its own.
///
/// The epoll thread calls `handle(_:)`, which only drains the signalling
/// fd and names the containers to check; workers call `check(_:)`, which
/// reads the counters (no lock held) and says whether the engine must hear
/// of a new count. All state is one `State` behind one mutex.
final class OOMWatcher: Sendable {
    /// The v1 eventfd fires when the cgroup hits its limit, before the OOM
    /// killer has picked a victim and counted it; after a signal the counter
    /// is re-read at these delays (ms, doubling) until it grows.
    static let followUpSteps = 10

    private struct Watch {
        let id: String
        let cgroup: String
        let source: OOMSource
        /// v2: the inotify watch descriptor; v1: the eventfd. -1 once gone.
        var fd: Int32
        /// v1: the eventfd's owner (closed when the watch is dropped).
        var eventFD: EventFD?
        /// The counter at the last read.
        var count: UInt64 = 0
        /// v1 without an `oom_kill` line (old kernels): signals seen.
        var signals: UInt64 = 0
        /// v1 follow-up after a signal: the count the growth is measured
        /// from, the next step, and when it is due (0: none pending).
        var signalBase: UInt64 = 0
        var followUpStep = 0
        var followUpDueNs: Int64 = 0
        var awaitingGrowth = false
    }

    private struct Container {
        var watches: [UInt32] = []
        /// The total last reported to the engine.
        var reported: UInt64 = 0
    }

    private struct State {
        var watches: [UInt32: Watch] = [:]
        var containers: [String: Container] = [:]
        /// inotify returns one descriptor per inode: several watches may share it.
        var byDescriptor: [Int32: [UInt32]] = [:]
        var nextID: UInt32 = 1
        var inotify: Inotify?
        var timer: TimerFD?
        var timerDueNs: Int64 = 0
        var hierarchies: [CgroupHierarchy]?
        var closed = false

        /// Watch ids are epoll token indexes (28 bits).
        mutating func allocateID() -> UInt32 {
            repeat {
                nextID = (nextID &+ 1) & EpollToken.maxIndex
            } while nextID == 0 || watches[nextID] != nil
            return nextID
        }
    }

    private let state = PthreadLocked(State())
    /// Containers with a watch, published after each change under `state`:
    /// an exit of an unwatched container (the common case) skips the lock.
    private let watched = Atomic<Int>(0)
    private let epoll: Epoll
    /// Where a cgroup's counter is; the default asks the mounted hierarchies.
    /// Unit tests pass a regular file standing in for the kernel's.
    private let locate: @Sendable (String) -> OOMSource?

    init(epoll: Epoll, locate: (@Sendable (String) -> OOMSource?)? = nil) {
        self.epoll = epoll
        self.locate = locate ?? OOMWatcher.mountedHierarchiesLocator()
    }

    /// Hierarchies are read once, on the first watch (cgroup mounts do not
    /// move under a running engine).
    private static func mountedHierarchiesLocator() -> @Sendable (String) -> OOMSource? {
        let cache = Mutex<[CgroupHierarchy]?>(nil)
        return { relative in
            let hierarchies = cache.withLock { cached -> [CgroupHierarchy] in
                if let cached { return cached }
                let read = (try? CgroupFS.hierarchies()) ?? []
                if !read.isEmpty { cached = read }
                return read
            }
            return OOMCounter.locate(relative, in: hierarchies)
        }
    }

    // MARK: watches (any thread)

    /// Starts watching cgroup `relative` for `id` (once per id and cgroup).
    /// true when a watch exists afterwards: the caller then schedules a
    /// `check` so that kills before the watch started are reported.
    @discardableResult
    func watch(id: String, cgroup relative: String) -> Bool {
        let normalized = relative.split(separator: "/").joined(separator: "/")
        guard !normalized.isEmpty else { return false }
        if state.withLock({ s in s.containers[id]?.watches.contains { s.watches[$0]?.cgroup == normalized } ?? false }) {
            return true
        }
        guard let source = locate(normalized) else {
            Log.debug("\(id): cgroup \(normalized) has no memory controller: OOM kills not watched")
            return false
        }
        return state.withLock { s -> Bool in
            if s.closed { return false }
            if s.containers[id]?.watches.contains(where: { s.watches[$0]?.cgroup == normalized }) == true { return true }
            let wid = s.allocateID()
            let fd: Int32, eventFD: EventFD?
            do throws(SystemError) {
                (fd, eventFD) = try register(source, as: wid, in: &s)
            } catch {
                Log.warning("\(id): cannot watch OOM kills of \(source.counterFile): \(error)")
                return false
            }
            s.watches[wid] = Watch(id: id, cgroup: normalized, source: source, fd: fd, eventFD: eventFD)
            s.containers[id, default: Container()].watches.append(wid)
            watched.store(s.containers.count, ordering: .releasing)
            Log.debug("\(id): watching OOM kills of \(source.counterFile)")
            return true
        }
    }

    private func register(_ source: OOMSource, as wid: UInt32, in s: inout State) throws(SystemError) -> (Int32, EventFD?) {
        switch source {
        case let .v2(events):
            if s.inotify == nil {
                let inotify = try named("inotify_init1") { () throws(Errno) in try Inotify() }
                try named("epoll_ctl") { () throws(Errno) in
                    try epoll.add(inotify.fd, events: .input, data: EpollToken.oomInotify.data)
                }
                s.inotify = inotify
            }
            let wd = try s.inotify!.addWatch(events, mask: UInt32(IN_MODIFY))
            s.byDescriptor[wd, default: []].append(wid)
            return (wd, nil)
        case let .v1(directory):
            // On a failure below, efd closes as it goes out of scope.
            let efd = try named("eventfd") { () throws(Errno) in try EventFD() }
            try OOMCounter.registerV1(eventfd: efd.fd, directory: directory)
            try named("epoll_ctl") { () throws(Errno) in
                try epoll.add(efd.fd, events: .input,
                              data: EpollToken.oomEventFD(Registration(index: wid, generation: 0)).data)
            }
            return (efd.fd, efd)
        }
    }

    /// Stops every watch of `id` (its exit is handled) and closes their fds.
    func unwatch(_ id: String) {
        guard watched.load(ordering: .acquiring) > 0 else { return }
        state.withLock { s in
            guard let container = s.containers.removeValue(forKey: id) else { return }
            watched.store(s.containers.count, ordering: .releasing)
            for wid in container.watches {
                if let w = s.watches.removeValue(forKey: wid) { release(w, wid, in: &s) }
            }
        }
    }

    private func release(_ w: Watch, _ wid: UInt32, in s: inout State) {
        guard w.fd >= 0 else { return }
        switch w.source {
        case .v2:
            var sharing = s.byDescriptor[w.fd] ?? []
            sharing.removeAll { $0 == wid }
            if sharing.isEmpty {
                s.byDescriptor[w.fd] = nil
                s.inotify?.removeWatch(w.fd)
            } else {
                s.byDescriptor[w.fd] = sharing
            }
        case .v1:
            // Unregistered before the eventfd closes (with the caller's last
            // copy of the watch), so no event can name a reused fd.
            try? epoll.remove(w.fd)
        }
    }

    /// Closes every watch and the shared fds (the supervisor is stopping;
    /// its epoll thread has exited).
    func close() {
        state.withLock { s in
            s.closed = true
            for (wid, w) in s.watches { release(w, wid, in: &s) }
            s.watches = [:]
            s.containers = [:]
            watched.store(0, ordering: .releasing)
            s.inotify = nil
            s.timer = nil
        }
    }

    // MARK: events (epoll thread)

    /// Drains the fd `token` names; returns the containers whose counters
    /// must be read (each once).
    func handle(_ token: EpollToken) -> [String] {
        let now = MonotonicClock.nowNs()
        return state.withLock { s -> [String] in
            var ids: [String] = []
            func add(_ id: String) { if !ids.contains(id) { ids.append(id) } }
            switch token {
            case .oomInotify:
                var ignored: [Int32] = []
                let inotify = s.inotify
                let byDescriptor = s.byDescriptor, watches = s.watches
                inotify?.drain { wd, mask in
                    for wid in byDescriptor[wd] ?? [] {
                        if let w = watches[wid] { add(w.id) }
                    }
                    // The file went away (cgroup removed): the kernel dropped the watch.
                    if mask & UInt32(IN_IGNORED) != 0 { ignored.append(wd) }
                }
                for wd in ignored {
                    for wid in s.byDescriptor.removeValue(forKey: wd) ?? [] { s.watches[wid]?.fd = -1 }
                }
            case .oomTimer:
                s.timer?.drain()
                s.timerDueNs = 0
                for (wid, w) in s.watches where w.followUpDueNs > 0 && w.followUpDueNs <= now {
                    s.watches[wid]!.followUpDueNs = 0
                    add(w.id)
                }
                armTimer(&s)
            case let .oomEventFD(r):
                let wid = r.index
                guard let w = s.watches[wid], w.fd >= 0 else { break } // stale: already unwatched
                guard let value = w.eventFD?.take() else { break }
                s.watches[wid]!.signals &+= value
                s.watches[wid]!.signalBase = w.count
                s.watches[wid]!.awaitingGrowth = true
                s.watches[wid]!.followUpStep = 0
                add(w.id)
            case .wakeup, .exitFIFO:
                break
            }
            return ids
        }
    }

    /// Arms the timer for the earliest pending follow-up (or disarms it).
    private func armTimer(_ s: inout State) {
        let due = s.watches.values.reduce(Int64.max) { $1.followUpDueNs > 0 ? min($0, $1.followUpDueNs) : $0 }
        if due == Int64.max {
            if s.timerDueNs != 0 { s.timer?.arm(atNs: 0) }
            s.timerDueNs = 0
            return
        }
        if s.timer == nil {
            guard let timer = try? TimerFD() else {
                Log.warning("supervisor: cannot create the OOM follow-up timer; a v1 OOM kill is reported at exit")
                return
            }
            guard (try? epoll.add(timer.fd, events: .input, data: EpollToken.oomTimer.data)) != nil else { return }
            s.timer = timer
        }
        if s.timerDueNs == 0 || due < s.timerDueNs {
            s.timer!.arm(atNs: due)
            s.timerDueNs = due
        }
    }

    // MARK: counters (workers)

    /// Reads the counters of `id`'s watches. Returns the new total when it
    /// grew past what was last reported (and records it as reported).
    func check(_ id: String) -> UInt64? {
        guard watched.load(ordering: .acquiring) > 0 else { return nil }
        let sources = state.withLock { s -> [(UInt32, OOMSource)] in
            (s.containers[id]?.watches ?? []).compactMap { wid in s.watches[wid].map { (wid, $0.source) } }
        }
        guard !sources.isEmpty else { return nil }
        var readings: [(UInt32, Result<UInt64?, SystemError>)] = []
        for (wid, source) in sources {
            do throws(SystemError) {
                readings.append((wid, .success(try OOMCounter.read(source))))
            } catch {
                readings.append((wid, .failure(error)))
            }
        }
        let now = MonotonicClock.nowNs()
        return state.withLock { s -> UInt64? in
            for (wid, reading) in readings {
                guard var w = s.watches[wid] else { continue }
                switch reading {
                case let .success(counter?): w.count = max(w.count, counter)
                case .success(nil): w.count = w.signals // no oom_kill line: one per event
                case let .failure(err):
                    Log.debug("\(id): \(err) (cgroup gone?)")
                    w.awaitingGrowth = false
                }
                if w.awaitingGrowth {
                    if w.count > w.signalBase || w.followUpStep >= Self.followUpSteps {
                        w.awaitingGrowth = false
                        w.followUpDueNs = 0
                    } else {
                        w.followUpDueNs = now + (Int64(1) << Int64(w.followUpStep)) * 1_000_000
                        w.followUpStep += 1
                    }
                }
                s.watches[wid] = w
            }
            armTimer(&s)
            guard var container = s.containers[id] else { return nil }
            let total = container.watches.reduce(UInt64(0)) { $0 &+ (s.watches[$1]?.count ?? 0) }
            guard total > container.reported else { return nil }
            container.reported = total
            s.containers[id] = container
            return total
        }
    }

    /// The last count read for `id` (status JSON).
    func count(of id: String) -> UInt64 {
        guard watched.load(ordering: .acquiring) > 0 else { return 0 }
        return state.withLock { s in
            (s.containers[id]?.watches ?? []).reduce(UInt64(0)) { $0 &+ (s.watches[$1]?.count ?? 0) }
        }
    }

    var watchCount: Int { state.withLock { $0.watches.count } }
}
