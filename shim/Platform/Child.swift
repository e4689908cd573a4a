import CShim

/// Outcome of a finished child, in shell terms.
enum ChildStatus: Equatable {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus s: Int32) {
        self = cs_wifsignaled(s) != 0 ? .signaled(cs_wtermsig(s)) : .exited(cs_wexitstatus(s))
    }

    /// 128+signal for a killed process, as engines report it.
    var exitCode: Int32 {
        switch self {
        case let .exited(c): return c
        case let .signaled(s): return 128 + s
        }
    }
}

/// Starting, waiting for and signalling child processes. fork + exec, not
/// posix_spawn: the child must get the shim's original oom_score_adj back
/// before exec (a write in the child). The shim is single-threaded.
enum Child {
    /// The oom_score_adj the shim started with, given back to its children.
    nonisolated(unsafe) static var originalOomScoreAdj: [UInt8] = []

    /// Starts argv[0] (through PATH) with fds 0-2 as given (-1: /dev/null).
    static func start(_ argv: [String], stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1) throws(Errno) -> pid_t {
        guard !argv.isEmpty else { throw Errno.invalid }
        let devnull = try FD(open: "/dev/null", O_RDWR)
        let fds = [stdin >= 0 ? stdin : devnull.raw, stdout >= 0 ? stdout : devnull.raw,
                   stderr >= 0 ? stderr : devnull.raw]
        // Every allocation before fork: the child only makes plain syscalls.
        var cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargv.append(nil)
        defer { for p in cargv { free(p) } }
        let oom = originalOomScoreAdj
        let pid = oom.withUnsafeBufferPointer { o in
            cargv.withUnsafeBufferPointer { a in
                let pid = fork()
                if pid == 0 {
                    o.withMemoryRebound(to: CChar.self) { oc in
                        cs_exec_child(a.baseAddress!, fds[0], fds[1], fds[2], oc.baseAddress, oc.count)
                    }
                }
                return pid
            }
        }
        if pid < 0 { throw Errno.current }
        return pid
    }

    /// waitpid, EINTR retried; nil with WNOHANG and nothing to reap.
    static func reap(_ pid: pid_t, options: Int32 = 0) throws(Errno) -> (pid_t, ChildStatus)? {
        var status: Int32 = 0
        let r = try sys32 { waitpid(pid, &status, options) }
        return r == 0 ? nil : (r, ChildStatus(waitStatus: status))
    }

    /// Waits for `pid` up to `timeoutMs` on its pidfd; at the deadline it is
    /// SIGKILLed and reaped (nil status then).
    static func wait(_ pid: pid_t, timeoutMs: Int) -> ChildStatus? {
        let pidfd = cs_pidfd_open(pid)
        if pidfd >= 0 {
            let owner = FD(adopting: pidfd)
            let deadline = Clock.nowMs() + Int64(timeoutMs)
            while true {
                let remaining = deadline - Clock.nowMs()
                if remaining <= 0 {
                    _ = cs_pidfd_send_signal(owner.raw, SIGKILL)
                    _ = try? reap(pid)
                    return nil
                }
                if pollOne(owner.raw, timeoutMs: Int32(remaining)) { break }
            }
        }
        return (try? reap(pid))?.1
    }

    /// Runs to completion, output discarded, within `timeoutMs`.
    static func run(_ argv: [String], timeoutMs: Int = 30_000) -> ChildStatus? {
        guard let pid = try? start(argv) else { return nil }
        return wait(pid, timeoutMs: timeoutMs)
    }

    /// Sends `sig` to pid only while it is still the process that started
    /// at `startTime`: the pidfd pins it, then the start time is compared.
    static func signal(pid: pid_t, startTime: UInt64, _ sig: Int32) {
        let pidfd = cs_pidfd_open(pid)
        guard pidfd >= 0 else { return }
        let owner = FD(adopting: pidfd)
        guard let stat = try? ProcStat.read(pid: pid), stat.startTime == startTime else { return }
        _ = cs_pidfd_send_signal(owner.raw, sig)
    }
}
