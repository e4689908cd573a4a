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
        if kill(pid, 0) != 0 && errno == ESRCH { return .gone }
        do {
            let stat = try ProcStat.read(pid: pid)
            if stat.state == "Z" || stat.state == "X" || stat.state == "x" { return .gone }
            if stat.startTime != startTime { return .gone }
            return .alive
        } catch {
            if error.errno == .noSuchFileOrDirectory || error.errno == .noSuchProcess { return .gone }
            return .unknown(error.errno)
        }
    }

    /// Sends `signal` to (pid, startTime) through a pidfd: the pidfd pins the
    /// process, then the start time is checked, then the signal goes to
    /// exactly that process. Success when sent or when the process is gone.
    public static func signal(pid: Int32, startTime: UInt64, signal sig: Int32) throws(Errno) {
        guard pid > 0 else { return }
        do throws(Errno) {
            let pidfd = try PIDFD(pid: pid)
            switch liveness(pid: pid, startTime: startTime) {
            case .gone: return
            case let .unknown(err): throw err
            case .alive: break
            }
            try pidfd.signal(sig)
        } catch {
            if error != .noSuchProcess { throw error }
        }
    }

    /// Waits up to `timeoutMs` for (pid, startTime) to exit, woken by its
    /// pidfd rather than by polling. Returns at once if it is already gone.
    public static func waitForExit(pid: Int32, startTime: UInt64, timeoutMs: Int) {
        guard pid > 0, timeoutMs > 0 else { return }
        let deadline = MonotonicClock.nowMs() + Int64(timeoutMs)
        let pidfd: PIDFD
        do throws(Errno) { pidfd = try PIDFD(pid: pid) } catch {
            if error != .noSuchProcess { sleepMs(timeoutMs) }
            return
        }
        if liveness(pid: pid, startTime: startTime) == .gone { return }
        pidfd.wait(untilMs: deadline)
    }
}
