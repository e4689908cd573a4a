import CPlatform
import Glibc
import SystemPackage

/// Liveness checks and signals that are safe against PID reuse: a process is
/// identified by (pid, start time), never by pid alone.
public enum ProcessProbe {
    public enum Liveness: Sendable, Equatable {
        case alive
        case gone
        case unknown(Errno)
    }

    /// Gone when there is no such pid, when it is a zombie (it has released
    /// everything; only its parent's wait is missing), or when its start time
    /// differs (the pid was reused). A start time of 0 (not known, e.g. an
    /// iSulad entry that omitted it) cannot identify a process, so it never
    /// matches one: the pid may belong to anybody by now (as iSulad's own
    /// start-time comparison decides).
    public static func liveness(pid: Int32, startTime: UInt64) -> Liveness {
        guard pid > 0 else { return .gone }
        // No such process: one syscall that signals nothing and allocates
        // nothing, no /proc path walk (the common case when a shim reports
        // an exit: the container is already reaped).
        if kill(pid, 0) != 0 && cp_errno() == ESRCH { return .gone }
        do {
            let stat = try ProcStat.read(pid: pid)
            if stat.state == "Z" || stat.state == "X" || stat.state == "x" { return .gone }
            if stat.startTime != startTime { return .gone }
            return .alive
        } catch {
            if error == .noSuchFileOrDirectory || error == .noSuchProcess { return .gone }
            return .unknown(error)
        }
    }

    /// Sends `signal` to (pid, startTime) through a pidfd: the pidfd pins the
    /// process, then the start time is checked, then the signal goes to
    /// exactly that process. Success when sent or when the process is gone.
    public static func signal(pid: Int32, startTime: UInt64, signal sig: Int32) throws(Errno) {
        guard pid > 0 else { return }
        let pidfd = cp_pidfd_open(pid, 0)
        if pidfd < 0 {
            let err = cp_errno()
            if err == ESRCH { return }
            throw Errno(rawValue: err)
        }
        defer { close(pidfd) }
        switch liveness(pid: pid, startTime: startTime) {
        case .gone: return
        case let .unknown(err): throw err
        case .alive: break
        }
        if cp_pidfd_send_signal(pidfd, sig) != 0 {
            let err = cp_errno()
            if err == ESRCH { return }
            throw Errno(rawValue: err)
        }
    }

    /// Waits up to `timeoutMs` for (pid, startTime) to exit, woken by its
    /// pidfd rather than by polling. Returns at once if it is already gone.
    public static func waitForExit(pid: Int32, startTime: UInt64, timeoutMs: Int) {
        guard pid > 0, timeoutMs > 0 else { return }
        let pidfd = cp_pidfd_open(pid, 0)
        guard pidfd >= 0 else {
            if cp_errno() != ESRCH { sleepMs(timeoutMs) }
            return
        }
        defer { close(pidfd) }
        if liveness(pid: pid, startTime: startTime) == .gone { return }
        let deadline = MonotonicClock.nowMs() + Int64(timeoutMs)
        while true {
            let remaining = deadline - MonotonicClock.nowMs()
            if remaining <= 0 { return }
            var pfd = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(remaining))
            if r < 0 && cp_errno() == EINTR { continue }
            return
        }
    }
}
