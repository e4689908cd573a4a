import CPlatform
import Glibc
import SystemPackage

/// How a child process is started. Standard streams not given are /dev/null.
public struct SpawnOptions: Sendable {
    public var argv: [String]
    /// nil: inherit the caller's environment.
    public var environment: [String]?
    public var workingDirectory: String?
    public var stdin: Int32?
    public var stdout: Int32?
    public var stderr: Int32?
    /// Start a new session (the child leaves the caller's process group).
    public var newSession: Bool

    public init(argv: [String], environment: [String]? = nil, workingDirectory: String? = nil,
                stdin: Int32? = nil, stdout: Int32? = nil, stderr: Int32? = nil, newSession: Bool = false) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.newSession = newSession
    }
}

/// Outcome of a finished child, in shell terms.
public enum ChildStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus s: Int32) {
        if cp_wifsignaled(s) != 0 { self = .signaled(cp_wtermsig(s)) } else { self = .exited(cp_wexitstatus(s)) }
    }

    /// 128+signal for a killed process, as shells and container engines report.
    public var exitCode: Int32 {
        switch self {
        case let .exited(c): return c
        case let .signaled(s): return 128 + s
        }
    }
}

public enum Spawn {
    /// Starts argv[0] (looked up through PATH when it has no '/'), no shell.
    /// Signal dispositions and mask are reset to defaults in the child; only
    /// the three standard fds are inherited (everything we open is CLOEXEC).
    public static func start(_ options: SpawnOptions) throws(SystemError) -> pid_t {
        guard let program = options.argv.first, !program.isEmpty else { throw SystemError(.invalidArgument, "posix_spawnp") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }

        let streams: [(Int32?, Int32, Int32)] = [(options.stdin, 0, O_RDONLY), (options.stdout, 1, O_WRONLY), (options.stderr, 2, O_WRONLY)]
        for (source, target, mode) in streams {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", mode, 0)
            }
        }
        if let cwd = options.workingDirectory {
            cp_spawn_addchdir(&actions, cwd)
        }

        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if options.newSession { flags |= Int32(cp_spawn_setsid_flag()) }
        posix_spawnattr_setflags(&attr, Int16(flags))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)

        let env = options.environment
        var pid: pid_t = 0
        let rc = withCStrings(options.argv) { argv in
            if let env {
                return withCStrings(env) { envp in
                    posix_spawnp(&pid, program, &actions, &attr, argv, envp)
                }
            }
            return posix_spawnp(&pid, program, &actions, &attr, argv, cp_environ())
        }
        if rc != 0 { throw SystemError(Errno(rawValue: rc), "posix_spawnp", path: program) }
        return pid
    }

    /// waitpid that retries on EINTR.
    public static func wait(_ pid: pid_t, options: Int32 = 0) throws(Errno) -> ChildStatus? {
        var status: Int32 = 0
        let r = retryingEINTR { waitpid(pid, &status, options) }
        if r == pid { return ChildStatus(waitStatus: status) }
        if r == 0 { return nil }
        throw Errno(rawValue: errno)
    }
}

/// Result of `runCommand`: the status (nil when it had to be killed at the
/// deadline) and the start of its combined stdout/stderr.
public struct CommandResult: Sendable {
    public var status: ChildStatus?
    public var output: String
    public var timedOut: Bool
}

extension Spawn {
    /// Runs a command to completion with a deadline, capturing up to
    /// `outputLimit` bytes of its output. At the deadline the child is
    /// SIGKILLed and reaped. Event-driven: poll on the output pipe and a pidfd.
    public static func run(_ argv: [String], timeoutMs: Int, outputLimit: Int = 16384,
                           environment: [String]? = nil) throws(SystemError) -> CommandResult {
        var fds: [Int32] = [-1, -1]
        guard cp_pipe2(&fds, O_CLOEXEC) == 0 else { throw SystemError.last("pipe2") }
        let readEnd = fds[0], writeEnd = fds[1]
        let pid: pid_t
        do {
            pid = try start(SpawnOptions(argv: argv, environment: environment, stdout: writeEnd, stderr: writeEnd))
        } catch {
            close(readEnd); close(writeEnd)
            throw error
        }
        close(writeEnd)
        defer { close(readEnd) }
        let pidfd = try? PIDFD(pid: pid)

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = MonotonicClock.nowMs() + Int64(timeoutMs)
        var pipeOpen = true
        var timedOut = false
        while pipeOpen {
            let remaining = deadline - MonotonicClock.nowMs()
            if remaining <= 0 { timedOut = true; break }
            var pfd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(min(remaining, Int64(Int32.max))))
            if r < 0 { if errno == EINTR { continue }; break }
            if r == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { p in retryingEINTR { read(readEnd, p.baseAddress, p.count) } }
            if n > 0 {
                let room = outputLimit - output.count
                if room > 0 { output.append(contentsOf: buffer[0..<min(n, room)]) }
            } else if n == 0 || errno != EAGAIN {
                pipeOpen = false
            }
        }
        if !timedOut, let pidfd {
            // Output closed; the child may linger (a daemonised grandchild can
            // hold the pipe, not the child). Wait for exit within the deadline.
            if !pidfd.wait(untilMs: deadline) { timedOut = true }
        }
        if timedOut {
            if let pidfd { try? pidfd.signal(SIGKILL) } else { kill(pid, SIGKILL) }
        }
        // Reaped either way; a killed child has no status worth reporting.
        let status = (try? wait(pid)) ?? nil
        return CommandResult(status: timedOut ? nil : status,
                             output: String(decoding: output, as: UTF8.self), timedOut: timedOut)
    }
}
