import CPlatform
import Glibc
import Platform
import Synchronization
import SystemPackage

/// Watches every armed exit FIFO from one epoll thread. Reading a status is
/// all it does: handling runs on the worker pool.
final class ExitSupervisor: @unchecked Sendable {
    /// One armed exit FIFO. Kept small: thousands are armed at once.
    final class Monitor: @unchecked Sendable {
        let id: String
        let runtime: String
        let info: PidInfo
        let fd: Int32
        /// Only touched by the epoll thread.
        var status = StatusAccumulator()
        /// Guarded by the table lock.
        var stopping = false

        init(id: String, runtime: String, info: PidInfo, fd: Int32) {
            self.id = id
            self.runtime = runtime
            self.info = info
            self.fd = fd
        }
    }

    typealias ExitHandler = @Sendable (Monitor, Int32) -> Void

    private let table = Mutex<[String: Monitor]>([:])
    private let epoll: Epoll
    private let wakeup: EventFD
    private var thread: NativeThread?
    private let stopRequested = Atomic<Bool>(false)
    private let onExit: ExitHandler

    init(onExit: @escaping ExitHandler) throws(Errno) {
        self.onExit = onExit
        epoll = try Epoll()
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

    /// Arms `fd`. On success the supervisor owns it; on failure the caller does.
    func arm(fd: Int32, id: String, runtime: String, info: PidInfo) throws(Errno) {
        guard Fifo.isFifo(fd) else { throw Errno.invalidArgument }
        let flags = cp_fcntl_getfl(fd)
        guard flags >= 0, cp_fcntl_setfl(fd, flags | O_NONBLOCK) == 0, cp_fcntl_setfd_cloexec(fd) == 0 else {
            throw Errno(rawValue: cp_errno())
        }
        let monitor = Monitor(id: id, runtime: runtime, info: info, fd: fd)
        try table.withLock { (t: inout [String: Monitor]) throws(Errno) in
            guard t[id] == nil else { throw Errno.fileExists }
            t[id] = monitor
        }
        // The epoll registration holds its own reference until the exit is read.
        let token = Unmanaged.passRetained(monitor)
        do {
            try epoll.add(fd, events: .input, data: UInt64(UInt(bitPattern: token.toOpaque())))
        } catch {
            token.release()
            table.withLock { _ = $0.removeValue(forKey: id) }
            throw error
        }
    }

    enum MonitorState { case running, stopping }

    func state(of id: String) -> MonitorState? {
        table.withLock { t in t[id].map { $0.stopping ? .stopping : .running } }
    }

    /// The exit of `id` is fully handled: forget it (the id may be armed again).
    func finish(_ id: String) {
        table.withLock { t in
            if let m = t[id], m.stopping { t[id] = nil }
        }
    }

    func snapshot() -> [(id: String, runtime: String, info: PidInfo, stopping: Bool)] {
        table.withLock { t in
            t.values.map { ($0.id, $0.runtime, $0.info, $0.stopping) }.sorted { $0.id < $1.id }
        }
    }

    var count: Int { table.withLock { $0.count } }

    /// Stops the epoll thread and closes every FIFO still armed (their exits
    /// are not lost: the shim leaves an exit record, and the engine re-arms
    /// after a restart). Exits already read are handled by the pool.
    func stop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup.signal()
        thread?.join()
        thread = nil
        table.withLock { t in
            for (id, m) in t where !m.stopping {
                try? epoll.remove(m.fd)
                Glibc.close(m.fd)
                Unmanaged.passUnretained(m).release()
                t[id] = nil
            }
        }
        wakeup.close()
        epoll.close()
    }

    private func run() {
        WorkerPool.onWorkerThread.set(true)
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while !stopRequested.load(ordering: .acquiring) {
            let n: Int
            do {
                n = try epoll.wait(into: &events)
            } catch {
                Log.error("supervisor: epoll_wait failed: \(error)")
                return
            }
            for i in 0..<n {
                let data = events[i].data.u64
                if data == 0 {
                    wakeup.drain()
                    continue
                }
                let monitor = Unmanaged<Monitor>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(data))!).takeUnretainedValue()
                // An injected read error acts like EINTR: the FIFO stays
                // readable, so level-triggered epoll reports it again.
                if Failpoint.check("fifo.read") != nil { continue }
                let code: Int32
                switch monitor.status.read(from: monitor.fd) {
                case .pending: continue
                case let .status(s): code = s
                case .endOfFile: code = 137
                case let .failed(err):
                    Log.warning("\(monitor.id): reading exit FIFO failed: \(err); status unknown")
                    code = 137
                }
                exited(monitor, code: code)
            }
        }
    }

    private func exited(_ monitor: Monitor, code: Int32) {
        try? epoll.remove(monitor.fd)
        Glibc.close(monitor.fd)
        table.withLock { _ in monitor.stopping = true }
        onExit(monitor, code)
        Unmanaged.passUnretained(monitor).release()
    }
}
