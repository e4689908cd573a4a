import Diagnostics
import CPlatform
import Glibc
import Platform
import Synchronization
import SystemPackage

/// Watches every armed exit FIFO from one epoll thread. The thread only
/// waits: the FIFOs that became readable in one wake-up are handed to the
/// worker pool in one batch, and workers read the status (in parallel).
///
/// Ownership: the monitor table (and every armed FIFO's fd) belongs to this
/// object, behind `tableLock`; the epoll set holds registration tokens, never
/// pointers. An fd is closed here and only here: by the worker that read its
/// status, or by `stop()` for FIFOs still armed.
final class ExitSupervisor: @unchecked Sendable {
    /// An exit read from a FIFO, ready for handling on a worker.
    struct Exit: Sendable {
        let id: String
        let runtime: String
        let info: PidInfo
        let code: Int32
        let registration: Registration
        /// Resources were tracked for this run (the engine's ledger holds them).
        let tracked: Bool
    }

    /// A FIFO that became readable, handed from the epoll thread to a worker.
    /// Its one-shot registration is spent, so no other worker can get it.
    struct Ready: Sendable {
        let id: String
        let registration: Registration
    }

    typealias ReadyHandler = @Sendable ([Ready]) -> Void
    /// Containers whose OOM counters must be read (on a worker).
    typealias OOMHandler = @Sendable ([String]) -> Void

    private struct Table {
        var monitors = MonitorTable()
        /// Set by `stop()`: workers close what they hold instead of re-arming.
        var closed = false
    }

    /// Monitors are not Sendable (ManagedBuffer), so the table sits behind a
    /// plain pthread mutex in this @unchecked Sendable class.
    private let tableLock = ConditionLock()
    private var tableStorage = Table()

    private func withTable<R, E: Error>(_ body: (inout Table) throws(E) -> R) throws(E) -> R {
        tableLock.lock()
        defer { tableLock.unlock() }
        return try body(&tableStorage)
    }

    private let epoll: Epoll
    private let wakeup: EventFD
    private var thread: NativeThread?
    private let stopRequested = Atomic<Bool>(false)
    private let onReady: ReadyHandler
    private let onOOM: OOMHandler
    /// OOM-kill watches of armed containers, in this epoll set.
    let oom: OOMWatcher

    init(onReady: @escaping ReadyHandler, onOOM: @escaping OOMHandler,
         locateOOM: (@Sendable (String) -> OOMSource?)? = nil) throws(SystemError) {
        self.onReady = onReady
        self.onOOM = onOOM
        // Each fd closes with its last holder (deinit), on failure here too.
        epoll = try named("epoll_create1") { () throws(Errno) in try Epoll() }
        oom = OOMWatcher(epoll: epoll, locate: locateOOM)
        wakeup = try named("eventfd") { () throws(Errno) in try EventFD() }
        try named("epoll_ctl") { () throws(Errno) in try epoll.add(wakeup.fd, events: .input, data: EpollToken.wakeup.data) }
        thread = try named("pthread_create supv-epoll") { () throws(Errno) in
            try NativeThread.start(name: "supv-epoll") { [unowned self] in self.run() }
        }
    }

    /// One-shot: an event disables the registration, so once an exit is
    /// read no further event can name the monitor, even if someone else
    /// still holds the FIFO open, and closing needs no EPOLL_CTL_DEL.
    private static let interest: Epoll.Events = [.input, .oneShot]

    /// Arms `fd`. On success the supervisor owns it; on failure the caller
    /// does, unchanged. All under the table lock, so `stop()` either sees the
    /// monitor registered (and closes it) or arming fails with ESHUTDOWN.
    /// `tracked`: resources tracked before arming wait for this run.
    func arm(fd: Int32, id: String, runtime: String, info: PidInfo, tracked: Bool) throws(Errno) {
        guard Fifo.isFifo(fd) else { throw Errno.invalidArgument }
        try withTable { (t: inout Table) throws(Errno) in
            if t.closed { throw Errno(rawValue: ESHUTDOWN) }
            guard let runtimeIndex = t.monitors.runtimes.intern(runtime) else { throw Errno.noSpace }
            if let r = t.monitors.registration(of: id), t.monitors.slot(r)?.phase != .handled { throw Errno.fileExists }
            let monitor = Monitor.make(id: id, runtime: runtimeIndex, info: info, fd: fd)
            guard let registration = t.monitors.insert(monitor) else { throw Errno.noSpace }
            t.monitors.update(registration) { $0.tracked = tracked }
            let flags = fcntl(fd, F_GETFL)
            let fdFlags = fcntl(fd, F_GETFD)
            guard flags >= 0, fdFlags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0,
                  fcntl(fd, F_SETFD, fdFlags | FD_CLOEXEC) == 0 else {
                let err = Errno(rawValue: errno)
                t.monitors.remove(registration)
                throw err
            }
            do throws(Errno) {
                try epoll.add(fd, events: Self.interest, data: EpollToken.exitFIFO(registration).data)
            } catch {
                t.monitors.remove(registration)
                _ = fcntl(fd, F_SETFL, flags)
                _ = fcntl(fd, F_SETFD, fdFlags)
                throw error
            }
        }
    }

    enum MonitorState: Equatable {
        case running, stopping
        /// The exit was handled (one of the last `MonitorTable.rememberedExits`).
        case handled(runtime: String)
    }

    func state(of id: String) -> MonitorState? {
        withTable { t in Self.state(of: id, in: &t.monitors, claim: false) }
    }

    /// `state(of:)` for supervisor_track_resource, called under the engine's
    /// ledger lock: a running or stopping run is marked as owning tracked
    /// resources, so its exit handler takes them before it finishes.
    func claimForTrack(_ id: String) -> MonitorState? {
        withTable { t in Self.state(of: id, in: &t.monitors, claim: true) }
    }

    private static func state(of id: String, in table: inout MonitorTable, claim: Bool) -> MonitorState? {
        guard let r = table.registration(of: id), let slot = table.slot(r) else { return nil }
        switch slot.phase {
        case .armed, .reading:
            if claim { table.update(r) { $0.tracked = true } }
            return .running
        case .stopping:
            if claim { table.update(r) { $0.tracked = true } }
            return .stopping
        case .handled:
            return .handled(runtime: table.runtimes.name(slot.monitor!.runtime))
        }
    }

    /// Under the engine's ledger lock, as the exit handler takes the
    /// resources tracked so far: later tracks mark the run again.
    func clearTracked(_ r: Registration) {
        withTable { t in t.monitors.update(r) { $0.tracked = false } }
    }

    /// The exit of `r` is fully handled: remembered as handled (the id may
    /// be armed again). false, changing nothing, when a resource was tracked
    /// for the run since the handler took them: it must take them first
    /// (`force`: handled all the same; the caller holds the ledger lock and
    /// takes what is left).
    func finish(_ r: Registration, force: Bool = false) -> Bool {
        withTable { t in
            guard let slot = t.monitors.slot(r), slot.phase == .stopping else { return true }
            if slot.tracked && !force { return false }
            t.monitors.markHandled(r)
            return true
        }
    }

    func snapshot() -> [(id: String, runtime: String, info: PidInfo, stopping: Bool)] {
        withTable { t in
            t.monitors.slots.compactMap { slot in
                slot.phase == .handled ? nil : slot.monitor.map { m in (m.id, t.monitors.runtimes.name(m.runtime), m.info, slot.phase == .stopping) }
            }.sorted { $0.id < $1.id }
        }
    }

    var armedCount: Int { withTable { $0.monitors.count } }

    /// Stops the epoll thread and closes every FIFO still armed (their exits
    /// are not lost: the shim leaves an exit record, and the engine re-arms
    /// after a restart). Exits already read are handled by the pool.
    func stop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup.signal()
        thread?.join()
        thread = nil
        withTable { t in
            t.closed = true
            // Monitors a worker holds are closed by that worker.
            for r in t.monitors.registrations {
                guard let slot = t.monitors.slot(r), slot.phase == .armed, let m = slot.monitor else { continue }
                try? epoll.remove(m.fd)
                Glibc.close(m.fd)
                t.monitors.remove(r)
            }
        }
    }

    /// Closes the OOM watches, once exits queued before `stop()` are handled.
    func closeWatches() { oom.close() }

    // The epoll and eventfd descriptors outlive `stop()` until no queued
    // job can re-arm a FIFO any more (jobs hold the supervisor): they close
    // when the supervisor (and its OOM watcher) is released.

    /// On a worker: reads the status of a FIFO the epoll thread reported.
    /// nil while the status is incomplete (the FIFO is re-armed), or when
    /// the registration is gone.
    func collect(_ ready: Ready) -> Exit? {
        let r = ready.registration
        guard let taken = withTable({ t -> (fd: Int32, status: StatusAccumulator)? in
            guard let slot = t.monitors.slot(r), slot.phase == .reading, let m = slot.monitor else { return nil }
            return (m.fd, slot.status)
        }) else { return nil }
        var status = taken.status
        // An injected read error acts like EINTR: read again at the next event.
        let outcome: StatusRead = Failpoint.check("fifo.read") == nil ? status.read(from: taken.fd) : .pending
        let code: Int32
        switch outcome {
        case .pending:
            rearm(r, status: status)
            return nil
        case let .status(s): code = s
        case .endOfFile: code = 137
        case let .failed(err):
            Log.warning("\(ready.id): reading exit FIFO failed: \(err); status unknown")
            code = 137
        }
        // The registration is spent (one-shot): closing needs no EPOLL_CTL_DEL.
        Glibc.close(taken.fd)
        return withTable { t -> Exit? in
            guard let slot = t.monitors.slot(r), let m = slot.monitor else { return nil }
            t.monitors.update(r) { $0.phase = .stopping }
            return Exit(id: ready.id, runtime: t.monitors.runtimes.name(m.runtime), info: m.info, code: code,
                        registration: r, tracked: slot.tracked)
        }
    }

    /// Listens again for a partial status. Under the table lock, so that
    /// `stop()` and a re-arm never interleave on a closed descriptor.
    private func rearm(_ r: Registration, status: StatusAccumulator) {
        let closeNow = withTable { t -> Int32? in
            guard let m = t.monitors.slot(r)?.monitor else { return nil }
            if t.closed {
                t.monitors.remove(r)
                return m.fd
            }
            t.monitors.update(r) {
                $0.status = status
                $0.phase = .armed
            }
            do {
                try epoll.modify(m.fd, events: Self.interest, data: EpollToken.exitFIFO(r).data)
            } catch {
                Log.error("\(m.id): cannot re-arm the exit FIFO: \(error)")
            }
            return nil
        }
        if let fd = closeNow { Glibc.close(fd) }
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var ready: [Ready] = []
        ready.reserveCapacity(events.count)
        var oomChecks: [String] = []
        while !stopRequested.load(ordering: .acquiring) {
            let n: Int
            do {
                n = try epoll.wait(into: &events)
            } catch {
                Log.error("supervisor: epoll_wait failed: \(error)")
                return
            }
            guard n > 0 else { continue }
            var fifos = 0
            for i in 0..<n {
                switch EpollToken(data: events[i].data.u64) {
                case .wakeup?: wakeup.drain()
                case .exitFIFO?: fifos += 1
                case let token?:
                    for id in oom.handle(token) where !oomChecks.contains(id) { oomChecks.append(id) }
                case nil: break
                }
            }
            if !oomChecks.isEmpty {
                onOOM(oomChecks)
                oomChecks.removeAll(keepingCapacity: true)
            }
            guard fifos > 0 else { continue }
            withTable { t in
                for i in 0..<n {
                    guard case let .exitFIFO(r)? = EpollToken(data: events[i].data.u64),
                          let slot = t.monitors.slot(r), slot.phase == .armed, let m = slot.monitor else { continue }
                    t.monitors.update(r) { $0.phase = .reading }
                    ready.append(Ready(id: m.id, registration: r))
                }
            }
            if ready.isEmpty { continue }
            onReady(ready)
            ready.removeAll(keepingCapacity: true)
        }
    }
}
