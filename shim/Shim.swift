import CPlatform
import Glibc
import Platform
import SystemPackage

/// Exit codes iSulad expects from its shim.
enum ShimExit {
    static let delivered: Int32 = 0
    static let failure: Int32 = 1
    static let execTimeout: Int32 = 2
}

/// One container (or exec'd process), from `runtime create` to the status in
/// the exit FIFO. Working directory = the state dir holding process.json.
struct Shim {
    let id: String
    let bundle: String
    let runtimeCommand: String
    let execTimeoutSeconds: UInt64
    let workDir: String
    let state: ProcessState
    /// `--root` of the runtime: <wd>/<runtime>; for exec the container's state
    /// dir is two levels up (<container wd>/exec/<exec id>).
    let runtimeRoot: String

    static let startupTimeoutSeconds: UInt32 = 120
    static let drainAfterExitMs: Int64 = 1000

    init(arguments: [String]) throws(ShimError) {
        guard arguments.count >= 4 else {
            throw ShimError("usage: isulad-shim <id> <bundle> <runtime-cmd> [log-level] [exec-timeout-s]")
        }
        id = arguments[1]
        bundle = arguments[2]
        runtimeCommand = arguments[3]
        guard !id.isEmpty, id.utf8.count < 1024, !id.contains("/"), id != "..", id != ".",
              !id.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { throw ShimError("invalid container id") }
        guard !bundle.isEmpty, bundle.utf8.count < Int(PATH_MAX) else { throw ShimError("invalid bundle path") }
        guard !runtimeCommand.isEmpty, runtimeCommand.utf8.count < Int(PATH_MAX) else { throw ShimError("invalid runtime command") }
        if arguments.count > 5 {
            guard let t = UInt64(arguments[5]) else { throw ShimError("invalid exec timeout: \(arguments[5])") }
            execTimeoutSeconds = t
        } else {
            execTimeoutSeconds = 0
        }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { throw ShimError("getcwd: \(Errno(rawValue: cp_errno()))") }
        workDir = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        state = try ProcessState.load()
        let runtimeName = state.runtime ?? String(runtimeCommand.split(separator: "/").last ?? "runc")
        if state.exec {
            var base = workDir
            for _ in 0..<2 {
                if let slash = base.utf8.lastIndex(of: UInt8(ascii: "/")) { base = String(base[..<slash]) }
            }
            runtimeRoot = base + "/" + runtimeName
        } else {
            runtimeRoot = workDir + "/" + runtimeName
        }
        for p in [runtimeRoot, workDir + "/console-socket", workDir + "/" + ExitRecord.fileName] {
            guard p.utf8.count < Int(PATH_MAX) else { throw ShimError("state path is PATH_MAX or longer") }
        }
    }

    // MARK: runtime command lines

    private var globalArgs: [String] {
        [runtimeCommand] + state.runtimeArgs
    }

    private func startArgs(consoleSocket: String?) -> [String] {
        var a = globalArgs + ["--log", workDir + "/log.json", "--log-format", "json", "--root", runtimeRoot]
        if state.systemdCgroup { a.append("--systemd-cgroup") }
        if state.exec {
            a += ["exec", "-d", "--process", workDir + "/process.json"]
        } else {
            a += ["create", "--bundle", bundle]
        }
        a += ["--pid-file", workDir + "/pid"]
        if !state.exec && state.noPivotRoot { a.append("--no-pivot") }
        if let consoleSocket { a += ["--console-socket", consoleSocket] }
        a.append(id)
        return a
    }

    private func controlArgs(_ tail: [String]) -> [String] {
        var a = globalArgs + ["--root", runtimeRoot]
        if state.systemdCgroup { a.append("--systemd-cgroup") }
        return a + tail
    }

    // MARK: lifecycle

    func run() -> Int32 {
        if !state.exec {
            do throws(Errno) { try ExitRecord.remove(stateDirectory: workDir) } catch {
                return fail("remove stale exit record: \(error)")
            }
        }
        guard cp_prctl_set_child_subreaper() == 0 else {
            return fail("set subreaper: \(Errno(rawValue: cp_errno()))")
        }
        protectFromOOMKiller()

        // The engine has opened the read end before starting us.
        var exitFD: Int32 = -1
        if !state.exec && state.exitFifo != nil {
            exitFD = cp_open("exit_fifo", O_WRONLY, 0)
            guard exitFD >= 0 else { return fail("open exit fifo: \(Errno(rawValue: cp_errno()))") }
        }

        var loop: IOLoop
        do throws(Errno) { loop = try IOLoop() } catch { return fail("event loop: \(error)") }
        let tty = state.openTTY || state.terminal
        var childFDs: [Int32] = [-1, -1, -1]
        var console: ConsoleSocket? = nil
        do throws(ShimError) {
            try openIsuladFifos(&loop, tty: tty)
            if tty {
                console = try ConsoleSocket(path: workDir + "/console-socket")
            } else {
                try makePipes(&loop, childFDs: &childFDs)
            }
        } catch {
            return fail(error.message)
        }
        if let logPath = state.logPath {
            do throws(Errno) {
                loop.log = try JSONFileLog(path: logPath, maxSize: state.logMaxsize, maxFiles: state.logMaxfile)
            } catch { return fail("open container log \(logPath): \(error)") }
        }

        // runtime create / exec
        let argv = startArgs(consoleSocket: console?.path)
        ShimLog.info("running \(argv.joined(separator: " "))")
        let runtimePid: pid_t
        do throws(Errno) {
            if let injected = Failpoint.check("shim.runtime.create") { throw injected }
            runtimePid = try ChildProcess.start(argv, stdin: childFDs[0], stdout: childFDs[1], stderr: childFDs[2])
        } catch { return fail("start runtime \(runtimeCommand): \(error)") }
        for fd in childFDs where fd >= 0 { close(fd) }

        if let console {
            defer { console.dispose() }
            guard let master = waitForConsole(console, runtimePid: runtimePid) else {
                return runtimeFailed(runtimePid, reason: "no console received from the runtime")
            }
            loop.pty = master
            loop.containerIn = master
            loop.containerInIsPipe = false
            do throws(Errno) { try loop.watchOutput(stream: 0, fd: master) } catch { return fail("watch pty: \(error)") }
            _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        }
        // Give up on the runtime before the start-up alarm fires, so the
        // shim cleans up and reports instead of dying of SIGALRM.
        guard let status = ChildProcess.wait(runtimePid, timeoutMs: Int(Self.startupTimeoutSeconds - 10) * 1000),
              status == .exited(0) else {
            return runtimeFailed(-1, reason: nil)
        }
        guard let pid = readPidFile() else { return runtimeFailed(-1, reason: "cannot read pid file") }
        let startTime = (try? ProcStat.read(pid: pid).startTime) ?? 0
        alarm(0)
        ShimLog.info("container process \(pid) started")
        // Start-up is over: from here on the shim mostly sleeps in epoll.
        StartupPages.release()

        // Wait for the container process, copying I/O.
        let deadline: Int64? = state.exec && execTimeoutSeconds > 0
            ? MonotonicClock.nowMs() + Int64(min(execTimeoutSeconds, UInt64(Int32.max))) * 1000 : nil
        var exitStatus: ChildStatus? = reap(containerPid: pid)
        var drainUntil: Int64 = exitStatus.map { _ in MonotonicClock.nowMs() + Self.drainAfterExitMs } ?? 0
        while true {
            let now = MonotonicClock.nowMs()
            if exitStatus != nil && (loop.outputDone || now >= drainUntil) { break }
            if exitStatus == nil, let deadline, now >= deadline {
                ShimLog.warning("exec process \(pid) timed out after \(execTimeoutSeconds)s, killing it")
                try? ProcessProbe.signal(pid: pid, startTime: startTime, signal: SIGKILL)
                _ = try? Spawn.wait(pid)
                loop.drainOutputs()
                loop.log?.flush()
                return ShimExit.execTimeout
            }
            var timeout: Int32 = -1
            if exitStatus != nil { timeout = Int32(max(0, drainUntil - now)) }
            else if let deadline { timeout = Int32(min(max(0, deadline - now), Int64(Int32.max))) }
            if loop.runOnce(timeoutMs: timeout) && exitStatus == nil {
                exitStatus = reap(containerPid: pid)
                if exitStatus != nil { drainUntil = MonotonicClock.nowMs() + Self.drainAfterExitMs }
            }
        }
        loop.log?.flush()
        let finalStatus = exitStatus ?? .signaled(SIGKILL)
        ShimLog.info("container process \(pid) exited with \(finalStatus.exitCode)")

        if !state.exec {
            _ = ChildProcess.run(controlArgs(["kill", "--all", id, "SIGKILL"]))
            // A failed delete leaves the runtime's state: the engine's RUNTIME
            // resource (the library's cleaner) removes it.
            if Failpoint.check("shim.runtime.delete") != nil
                || ChildProcess.run(controlArgs(["delete", "--force", id])) != .exited(0) {
                ShimLog.warning("\(runtimeCommand) delete --force \(id) failed")
            }
            _ = reap(containerPid: -1)
            var signal: Int32 = 0
            if case let .signaled(s) = finalStatus { signal = s }
            let record = ExitRecord(exitCode: finalStatus.exitCode, signal: signal, pid: pid,
                                    startTime: startTime, time: Timestamp.nowRFC3339())
            do throws(Errno) {
                if let injected = Failpoint.check("shim.exit_record") { throw injected }
                try record.write(stateDirectory: workDir)
            } catch {
                ShimLog.error("write exit record: \(error)")
            }
        }
        deliver(finalStatus.exitCode, exitFD: exitFD)
        return ShimExit.delivered
    }

    /// The status as a native-endian 4-byte int, to the exit FIFO and stdout.
    /// A reader that went away (EPIPE) is not an error: the record stays.
    private func deliver(_ code: Int32, exitFD: Int32) {
        var value = code
        withUnsafeBytes(of: &value) { p in
            if exitFD >= 0 {
                do throws(Errno) {
                    if let injected = Failpoint.check("shim.fifo.write") { throw injected }
                    try FileIO.writeAll(exitFD, p)
                } catch {
                    ShimLog.warning("write exit fifo: \(error)")
                }
            }
            do throws(Errno) { try FileIO.writeAll(1, p) } catch {
                ShimLog.debug("write status to stdout: \(error)")
            }
        }
    }

    /// Reaps every exited child; returns the container's status if it was
    /// among them.
    private func reap(containerPid: pid_t) -> ChildStatus? {
        var found: ChildStatus? = nil
        while true {
            var status: Int32 = 0
            let r = waitpid(-1, &status, WNOHANG)
            if r > 0 {
                if r == containerPid { found = ChildStatus(waitStatus: status) }
                continue
            }
            if r < 0 && cp_errno() == EINTR { continue }
            return found
        }
    }

    private func protectFromOOMKiller() {
        let fd = cp_open("/proc/self/oom_score_adj", O_RDWR, 0)
        guard fd >= 0 else { ShimLog.warning("open oom_score_adj: \(Errno(rawValue: cp_errno()))"); return }
        defer { close(fd) }
        if let original = try? FileIO.readAll(fd, limit: 64), !original.isEmpty {
            ChildProcess.originalOomScoreAdj = original
        }
        let value = Array("-1000".utf8)
        let ok = value.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == value.count
        if !ok { ShimLog.warning("set oom_score_adj -1000: \(Errno(rawValue: cp_errno())), going on") }
    }

    private func openIsuladFifos(_ loop: inout IOLoop, tty: Bool) throws(ShimError) {
        for (stream, path) in [state.isuladStdout, state.isuladStderr].enumerated() {
            guard let path else { continue }
            var fd = cp_open(path, O_WRONLY | O_NONBLOCK, 0)
            // No reader yet: keep our own read side so output waits in the FIFO.
            if fd < 0 && cp_errno() == ENXIO { fd = cp_open(path, O_RDWR | O_NONBLOCK, 0) }
            guard fd >= 0 else { throw ShimError("open \(path): \(Errno(rawValue: cp_errno()))") }
            guard Fifo.isFifo(fd) else { close(fd); throw ShimError("\(path) is not a FIFO") }
            loop.fifoOut[stream] = fd
        }
        if let path = state.isuladStdin {
            let fd = cp_open(path, O_RDONLY | O_NONBLOCK, 0)
            guard fd >= 0 else { throw ShimError("open \(path): \(Errno(rawValue: cp_errno()))") }
            guard Fifo.isFifo(fd) else { close(fd); throw ShimError("\(path) is not a FIFO") }
            do throws(Errno) { try loop.watchStdin(fifo: fd) } catch { throw ShimError("watch stdin: \(error)") }
        }
        if tty, let path = state.resizeFifo {
            let fd = cp_open(path, O_RDWR | O_NONBLOCK, 0)
            guard fd >= 0 else { throw ShimError("open \(path): \(Errno(rawValue: cp_errno()))") }
            do throws(Errno) { try loop.watchResize(fifo: fd) } catch { throw ShimError("watch resize: \(error)") }
        }
    }

    /// Pipes for the container's stdio: the child ends go to the runtime
    /// (runc passes them to the container), ours stay in the loop.
    private func makePipes(_ loop: inout IOLoop, childFDs: inout [Int32]) throws(ShimError) {
        var fds: [Int32] = [-1, -1]
        if state.openStdin || state.isuladStdin != nil {
            guard cp_pipe2(&fds, O_CLOEXEC) == 0 else { throw ShimError("pipe: \(Errno(rawValue: cp_errno()))") }
            childFDs[0] = fds[0]
            loop.containerIn = fds[1]
            _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        }
        for stream in 0..<2 {
            guard cp_pipe2(&fds, O_CLOEXEC) == 0 else { throw ShimError("pipe: \(Errno(rawValue: cp_errno()))") }
            childFDs[stream + 1] = fds[1]
            _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
            do throws(Errno) { try loop.watchOutput(stream: stream, fd: fds[0]) } catch {
                throw ShimError("watch output: \(error)")
            }
        }
    }

    /// Accepts runc's console connection, unless the runtime exits first.
    private func waitForConsole(_ console: ConsoleSocket, runtimePid: pid_t) -> Int32? {
        let pidfd = cp_pidfd_open(runtimePid, 0)
        defer { if pidfd >= 0 { close(pidfd) } }
        while true {
            var pfds = [pollfd(fd: console.listenFD, events: Int16(POLLIN), revents: 0),
                        pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)]
            let r = poll(&pfds, pidfd >= 0 ? 2 : 1, -1)
            if r < 0 && cp_errno() == EINTR { continue }
            if r <= 0 { return nil }
            if pfds[0].revents != 0 {
                do throws(ShimError) { return try console.receiveMaster() } catch {
                    ShimLog.error(error.message)
                    return nil
                }
            }
            if pfds[1].revents != 0 { return nil }
        }
    }

    private func readPidFile() -> pid_t? {
        let fd = cp_open(workDir + "/pid", O_RDONLY | O_NOFOLLOW, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let bytes = try? FileIO.readAll(fd, limit: 64) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == " " }).first
        guard let text, let pid = Int32(text), pid > 0 else { return nil }
        return pid
    }

    /// The runtime failed: its log.json errors go to stderr (iSulad shows
    /// them), anything it left is deleted, exit 1.
    private func runtimeFailed(_ runtimePid: pid_t, reason: String?) -> Int32 {
        if runtimePid > 0 { _ = ChildProcess.wait(runtimePid, timeoutMs: 10_000) }
        var message = runtimeLogErrors()
        if message.isEmpty { message = reason ?? "\(runtimeCommand) \(state.exec ? "exec" : "create") failed" }
        if !state.exec { _ = ChildProcess.run(controlArgs(["delete", "--force", id])) }
        _ = reap(containerPid: -1)
        return fail(message)
    }

    private func runtimeLogErrors() -> String {
        let fd = cp_open(workDir + "/log.json", O_RDONLY | O_NOFOLLOW, 0)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        _ = lseek(fd, max(0, size - 65536), SEEK_SET)
        guard let bytes = try? FileIO.readAll(fd, limit: 65536) else { return "" }
        var messages: [String] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let doc = try? JSON.parse(Array(line)), doc["level"]?.stringValue == "error",
                  let msg = doc["msg"]?.stringValue else { continue }
            messages.append(msg)
        }
        return messages.suffix(3).joined(separator: "; ")
    }
}

/// Logs and prints an error, returns the failure exit code.
func fail(_ message: String) -> Int32 {
    ShimLog.error(message)
    printError("isulad-shim: " + message)
    return ShimExit.failure
}
