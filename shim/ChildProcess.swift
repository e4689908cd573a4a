import CPlatform
import Glibc
import Platform
import SystemPackage

/// Starts the runtime. Not posix_spawn: the child must get the original
/// oom_score_adj back before exec (the shim itself runs at -1000), which is
/// a write in the child. The shim is single-threaded, so fork is safe.
enum ChildProcess {
    /// The oom_score_adj the shim started with, given back to its children.
    nonisolated(unsafe) static var originalOomScoreAdj: [UInt8]? = nil

    static func start(_ argv: [String], stdin: Int32 = -1, stdout: Int32 = -1, stderr: Int32 = -1) throws(Errno) -> pid_t {
        guard !argv.isEmpty else { throw Errno.invalidArgument }
        let devnull = cp_open("/dev/null", O_RDWR, 0)
        defer { if devnull >= 0 { close(devnull) } }
        let fds = [stdin >= 0 ? stdin : devnull, stdout >= 0 ? stdout : devnull, stderr >= 0 ? stderr : devnull]
        let oom = originalOomScoreAdj ?? []
        let pid = withCStrings(argv) { cargv -> pid_t in
            let pid = fork()
            if pid != 0 { return pid }
            // Child: only plain syscalls from here to exec.
            if !oom.isEmpty {
                let fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC)
                if fd >= 0 { oom.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }; close(fd) }
            }
            var empty = sigset_t()
            sigemptyset(&empty)
            sigprocmask(SIG_SETMASK, &empty, nil)
            signal(SIGPIPE, SIG_DFL)
            // dup2 onto 0,1,2 (a source already at its slot just loses CLOEXEC).
            for target in 0..<3 {
                let source = fds[target]
                if source == Int32(target) {
                    _ = clearCloseOnExec(source)
                } else if dup2(source, Int32(target)) < 0 {
                    _exit(127)
                }
            }
            execvp(cargv[0]!, cargv)
            _exit(127)
        }
        if pid < 0 { throw Errno(rawValue: cp_errno()) }
        return pid
    }

    /// Waits for `pid` for at most `timeoutMs`; SIGKILLs and reaps it at the
    /// deadline (nil status then).
    static func wait(_ pid: pid_t, timeoutMs: Int) -> ChildStatus? {
        let pidfd = cp_pidfd_open(pid, 0)
        if pidfd >= 0 {
            defer { close(pidfd) }
            let deadline = MonotonicClock.nowMs() + Int64(timeoutMs)
            while true {
                let remaining = deadline - MonotonicClock.nowMs()
                if remaining <= 0 {
                    _ = cp_pidfd_send_signal(pidfd, SIGKILL)
                    _ = try? Spawn.wait(pid)
                    return nil
                }
                var pfd = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                let r = poll(&pfd, 1, Int32(remaining))
                if r < 0 && cp_errno() == EINTR { continue }
                if r > 0 { break }
            }
        }
        return try? Spawn.wait(pid)
    }

    /// Runs to completion, output discarded, within `timeoutMs`.
    static func run(_ argv: [String], timeoutMs: Int = 30_000) -> ChildStatus? {
        guard let pid = try? start(argv) else { return nil }
        return wait(pid, timeoutMs: timeoutMs)
    }
}

@inline(__always)
func clearCloseOnExec(_ fd: Int32) -> Int32 {
    let flags = fcntl(fd, F_GETFD)
    if flags < 0 { return -1 }
    return fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC)
}
