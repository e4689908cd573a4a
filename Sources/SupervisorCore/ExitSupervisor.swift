import Diagnostics
import CPlatform
import Glibc
import Platform
import Synchronization
import SystemPackage

/// Watches every armed exit FIFO from one epoll thread. The thread only
/// waits: the FIFOs that became readable in one wake-up are handed to the
/// worker pool in one batch, and workers read the status (in parallel).
final class ExitSupervisor: @unchecked Sendable {
    /// An exit read from a FIFO, ready for handling on a worker.
    struct Exit: Sendable {
        let id: String
        let runtime: String
        let info: PidInfo
        let code: Int32
        /// The FIFO's read end, its one-shot registration spent; the handler
        /// closes it (off the epoll thread, which only reads).
        let fd: Int32
    }

    /// A FIFO that became readable, handed from the epoll thread to a worker.
    /// Its one-shot registration is spent, so no other worker can get it.
    struct Ready: @unchecked Sendable {
        let id: String
        fileprivate let monitor: Monitor
    }

    typealias ReadyHandler = @Sendable ([Ready]) -> Void
    /// Containers whose OOM counters must be read (on a worker).
    typealias OOMHandler = @Sendable ([String]) -> Void

    private struct Table {
        var monitors: Set<MonitorKey> = []
        var runtimes = RuntimeNames()
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
         locateOOM: (@Sendable (String) -> OOMSource?)? = nil) throws(Errno) {
        self.onReady = onReady
        self.onOOM = onOOM
        epoll = try Epoll()
        oom = OOMWatcher(epoll: epoll, locate: locateOOM)
        do {
            wakeup = try EventFD()
        } catch {
            epoll.close()
            throw error
        }
        do {
            try epoll.add(wakeup.fd, events: .input, data: 0)
            thread = try NativeThread.start(name: "supv-epoll") { [unowned self] in self.run() }
        } catch {
            wakeup.close()
            epoll.close()
            throw error
        }
    }

    /// Arms `fd`. On success the supervisor owns it; on failure the caller
    /// does, unchanged. All under the table lock, so `stop()` either sees the
    /// monitor registered (and closes it) or arming fails with ESHUTDOWN.
    func arm(fd: Int32, id: String, runtime: String, info: PidInfo) throws(Errno) {
        guard Fifo.isFifo(fd) else { throw Errno.invalidArgument }
        try withTable { (t: inout Table) throws(Errno) in
            if t.closed { throw Errno(rawValue: ESHUTDOWN) }
            guard let runtimeIndex = t.runtimes.intern(runtime) else { throw Errno.noSpace }
            let monitor = Monitor.make(id: id, runtime: runtimeIndex, info: info, fd: fd)
            let key = MonitorKey(monitor: monitor)
            guard t.monitors.insert(key).inserted else { throw Errno.fileExists }
            let flags = cp_fcntl_getfl(fd)
            let fdFlags = fcntl(fd, F_GETFD)
            guard flags >= 0, fdFlags >= 0, cp_fcntl_setfl(fd, flags | O_NONBLOCK) == 0, cp_fcntl_setfd_cloexec(fd) == 0 else {
                let err = Errno(rawValue: cp_errno())
                t.monitors.remove(key)
                throw err
            }
            // The epoll registration holds its own reference until the exit is read.
            let token = Unmanaged.passRetained(monitor)
            do throws(Errno) {
                try epoll.add(fd, events: Self.interest, data: UInt64(UInt(bitPattern: token.toOpaque())))
            } catch {
                token.release()
                t.monitors.remove(key)
                _ = cp_fcntl_setfl(fd, flags)
                _ = fcntl(fd, F_SETFD, fdFlags)
                throw error
            }
        }
    }

    /// One-shot: an event disables the registration, so once an exit is
    /// read no further event can name the monitor, even if someone else
    /// still holds the FIFO open, and closing needs no EPOLL_CTL_DEL.
    private static let interest: Epoll.Events = [.input, .oneShot]

    enum MonitorState { case running, stopping }

    func state(of id: String) -> MonitorState? {
        let probe = MonitorKey.probe(id)
        return withTable { t in
            guard let i = t.monitors.firstIndex(of: probe) else { return nil }
            return t.monitors[i].monitor.stopping ? .stopping : .running
        }
    }

    /// The exit of `id` is fully handled: forget it (the id may be armed again).
    func finish(_ id: String) {
        let probe = MonitorKey.probe(id)
        withTable { t in
            if let i = t.monitors.firstIndex(of: probe), t.monitors[i].monitor.stopping {
                t.monitors.remove(at: i)
            }
        }
    }

    func snapshot() -> [(id: String, runtime: String, info: PidInfo, stopping: Bool)] {
        withTable { t in
            t.monitors.map { key in
                let m = key.monitor
                return (m.id, t.runtimes.name(m.runtime), m.info, m.stopping)
            }.sorted { $0.id < $1.id }
        }
    }

    /// Stops the epoll thread and closes every FIFO still armed (their exits
    /// are not lost: the shim leaves an exit record, and the engine re-arms
    /// after a restart). Exits already read are handled by the pool.
    func stop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup.signal()
        thread?.join()
        thread = nil
        oom.close()
        withTable { t in
            t.closed = true
            // Monitors a worker holds are closed by that worker.
            for key in t.monitors where !key.monitor.stopping && !key.monitor.handedOff {
                try? epoll.remove(key.monitor.fd)
                Glibc.close(key.monitor.fd)
                Unmanaged.passUnretained(key.monitor).release()
            }
            t.monitors.removeAll()
        }
    }

    /// The epoll and eventfd descriptors outlive `stop()` until no queued
    /// job can re-arm a FIFO any more (jobs hold the supervisor).
    deinit {
        wakeup.close()
        epoll.close()
    }

    /// On a worker: reads the status of a FIFO the epoll thread reported.
    /// nil while the status is incomplete (the FIFO is re-armed).
    func collect(_ ready: Ready) -> Exit? {
        let monitor = ready.monitor
        let code: Int32
        // An injected read error acts like EINTR: read again at the next event.
        let outcome: StatusRead = Failpoint.check("fifo.read") == nil ? monitor.readStatus() : .pending
        switch outcome {
        case .pending:
            rearm(monitor)
            return nil
        case let .status(s): code = s
        case .endOfFile: code = 137
        case let .failed(err):
            Log.warning("\(ready.id): reading exit FIFO failed: \(err); status unknown")
            code = 137
        }
        let exit = withTable { t in
            monitor.stopping = true
            monitor.handedOff = false
            return Exit(id: ready.id, runtime: t.runtimes.name(monitor.runtime), info: monitor.info,
                        code: code, fd: monitor.fd)
        }
        // The epoll registration's reference: the registration is spent.
        Unmanaged.passUnretained(monitor).release()
        return exit
    }

    /// Listens again for a partial status. Under the table lock, so that
    /// `stop()` and a re-arm never interleave on a closed descriptor.
    private func rearm(_ monitor: Monitor) {
        let closeNow = withTable { t -> Bool in
            monitor.handedOff = false
            guard !t.closed else { return true }
            do {
                try epoll.modify(monitor.fd, events: Self.interest,
                                 data: UInt64(UInt(bitPattern: Unmanaged.passUnretained(monitor).toOpaque())))
            } catch {
                Log.error("\(monitor.id): cannot re-arm the exit FIFO: \(error)")
            }
            return false
        }
        if closeNow {
            Glibc.close(monitor.fd)
            Unmanaged.passUnretained(monitor).release()
        }
    }

    private func run() {
        WorkerPool.onWorkerThread.set(true)
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var ready: [Ready] = []
        ready.reserveCapacity(events.count)
        while !stopRequested.load(ordering: .acquiring) {
            let n: Int
            do {
                n = try epoll.wait(into: &events)
            } catch {
                Log.error("supervisor: epoll_wait failed: \(error)")
                return
            }
            guard n > 0 else { continue }
            var oomChecks: [String] = []
            for i in 0..<n where OOMWatcher.isTag(events[i].data.u64) {
                for id in oom.handle(tag: events[i].data.u64) where !oomChecks.contains(id) { oomChecks.append(id) }
            }
            if !oomChecks.isEmpty { onOOM(oomChecks) }
            withTable { _ in
                for i in 0..<n {
                    let data = events[i].data.u64
                    if data == 0 || OOMWatcher.isTag(data) { continue }
                    let monitor = Unmanaged<Monitor>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(data))!).takeUnretainedValue()
                    monitor.handedOff = true
                    ready.append(Ready(id: monitor.id, monitor: monitor))
                }
            }
            for i in 0..<n where events[i].data.u64 == 0 { wakeup.drain() }
            if ready.isEmpty { continue }
            onReady(ready)
            ready.removeAll(keepingCapacity: true)
        }
    }
}
