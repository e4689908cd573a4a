import CShim

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
        let idBytes = id.utf8
        guard !id.isEmpty, idBytes.count < 1024, !idBytes.contains(UInt8(ascii: "/")),
              !idBytes.elementsEqual("..".utf8), !idBytes.elementsEqual(".".utf8),
              !idBytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { throw ShimError("invalid container id") }
        guard !bundle.isEmpty, bundle.utf8.count < Int(PATH_MAX) else { throw ShimError("invalid bundle path") }
        guard !runtimeCommand.isEmpty, runtimeCommand.utf8.count < Int(PATH_MAX) else { throw ShimError("invalid runtime command") }
        if arguments.count > 5 {
            guard let t = parseDecimal(ArraySlice(arguments[5].utf8)) else { throw ShimError("invalid exec timeout: \(arguments[5])") }
            execTimeoutSeconds = t
        } else {
            execTimeoutSeconds = 0
        }
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { throw ShimError("getcwd: \(Errno.current)") }
        workDir = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        state = try ProcessState.load()
        let runtimeName = state.runtime ?? lastComponent(runtimeCommand)
        if state.exec {
            var base = Array(workDir.utf8)
            for _ in 0..<2 {
                if let slash = base.lastIndex(of: UInt8(ascii: "/")) { base.removeSubrange(slash...) }
            }
            runtimeRoot = String(decoding: base, as: UTF8.self) + "/" + runtimeName
        } else {
            runtimeRoot = workDir + "/" + runtimeName
        }
        for p in [runtimeRoot, workDir + "/console-socket", workDir + "/" + ExitRecord.fileName] {
            guard p.utf8.count < Int(PATH_MAX) else { throw ShimError("state path is PATH_MAX or longer") }
        }
    }

    // MARK: runtime command lines

    private var globalArgs: [String] { [runtimeCommand] + state.runtimeArgs }

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

    func run(signals: consuming FD) -> Int32 {
        if !state.exec {
            do throws(Errno) { try ExitRecord.remove(stateDirectory: workDir) } catch {
                return fail("remove stale exit record: \(error)")
            }
        }
        guard cs_set_child_subreaper() == 0 else { return fail("set subreaper: \(Errno.current)") }
        protectFromOOMKiller()

        // The engine has opened the read end before starting us.
        var exitFD: FD? = nil
        if !state.exec, case .some = state.exitFifo {
            do throws(Errno) { exitFD = try FD(open: "exit_fifo", O_WRONLY) } catch {
                return fail("open exit fifo: \(error)")
            }
        }

        let loop: IOLoop
        do throws(Errno) { loop = try IOLoop(signals: signals) } catch { return fail("event loop: \(error)") }
        let tty = state.openTTY || state.terminal
        var childFDs: [Int32] = [-1, -1, -1]
        var console: UnixListener? = nil
        do throws(ShimError) {
            try openIsuladFifos(loop, tty: tty)
            if tty {
                console = try ConsoleSocket.listen(path: workDir + "/console-socket")
            } else {
                try makePipes(loop, childFDs: &childFDs)
            }
            if let path = state.attachSocket { try AttachServer.start(loop, path: path, workDir: workDir) }
        } catch {
            return fail(error.message)
        }
        // However the shim ends, attached clients see EOF and the socket goes.
        defer { loop.attach?.closeAll(loop) }
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
            runtimePid = try Child.start(argv, stdin: childFDs[0], stdout: childFDs[1], stderr: childFDs[2])
        } catch { return fail("start runtime \(runtimeCommand): \(error)") }
        for fd in childFDs where fd >= 0 { _ = close(fd) }

        if let listener = console.take() {
            let master = waitForConsole(listener, runtimePid: runtimePid)
            listener.dispose()
            guard let master else {
                return runtimeFailed(runtimePid, reason: "no console received from the runtime")
            }
            master.setNonBlocking()
            loop.pty = master.raw
            loop.containerIn = master.raw
            loop.containerInIsPipe = false
            do throws(Errno) { try loop.watchOutput(stream: 0, fd: master) } catch { return fail("watch pty: \(error)") }
        }
        // Give up on the runtime before the start-up alarm fires, so the
        // shim cleans up and reports instead of dying of SIGALRM.
        guard let status = Child.wait(runtimePid, timeoutMs: Int(Self.startupTimeoutSeconds - 10) * 1000),
              status == .exited(0) else {
            return runtimeFailed(-1, reason: nil)
        }
        guard let pid = readPidFile() else { return runtimeFailed(-1, reason: "cannot read pid file") }
        let startTime = (try? ProcStat.read(pid: pid).startTime) ?? 0
        alarm(0)
        ShimLog.info("container process \(pid) started")
        // Start-up is over: give the heap pages its parsing used back, the
        // shim now mostly sleeps in epoll_wait for the container's lifetime.
        _ = malloc_trim(0)

        // Wait for the container process, copying I/O.
        let deadline: Int64? = state.exec && execTimeoutSeconds > 0
            ? Clock.nowMs() + Int64(min(execTimeoutSeconds, UInt64(Int32.max))) * 1000 : nil
        var exitStatus: ChildStatus? = reap(containerPid: pid)
        var drainUntil: Int64 = exitStatus == nil ? 0 : Clock.nowMs() + Self.drainAfterExitMs
        while true {
            let now = Clock.nowMs()
            if exitStatus != nil && (loop.outputDone || now >= drainUntil) { break }
            if exitStatus == nil, let deadline, now >= deadline {
                ShimLog.warning("exec process \(pid) timed out after \(execTimeoutSeconds)s, killing it")
                Child.signal(pid: pid, startTime: startTime, SIGKILL)
                _ = try? Child.reap(pid)
                loop.drainOutputs()
                loop.log?.flush()
                return ShimExit.execTimeout
            }
            var timeout: Int32 = -1
            if exitStatus != nil { timeout = Int32(max(0, drainUntil - now)) }
            else if let deadline { timeout = Int32(min(max(0, deadline - now), Int64(Int32.max))) }
            if loop.runOnce(timeoutMs: timeout) && exitStatus == nil {
                exitStatus = reap(containerPid: pid)
                if exitStatus != nil { drainUntil = Clock.nowMs() + Self.drainAfterExitMs }
            }
        }
        loop.log?.flush()
        loop.attach?.closeAll(loop)
        let finalStatus = exitStatus ?? .signaled(SIGKILL)
        ShimLog.info("container process \(pid) exited with \(finalStatus.exitCode)")

        if !state.exec {
            _ = Child.run(controlArgs(["kill", "--all", id, "SIGKILL"]))
            // A failed delete leaves the runtime's state: the engine's RUNTIME
            // resource (the library's cleaner) removes it.
            if Failpoint.check("shim.runtime.delete") != nil
                || Child.run(controlArgs(["delete", "--force", id])) != .exited(0) {
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
        deliver(finalStatus.exitCode, exitFD: exitFD?.raw ?? -1)
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
                    try FDIO.writeAll(exitFD, p)
                } catch {
                    ShimLog.warning("write exit fifo: \(error)")
                }
            }
            do throws(Errno) { try FDIO.writeAll(1, p) } catch {
                ShimLog.debug("write status to stdout: \(error)")
            }
        }
    }

    /// Reaps every exited child; returns the container's status if it was
    /// among them.
    private func reap(containerPid: pid_t) -> ChildStatus? {
        var found: ChildStatus? = nil
        while let (pid, status) = (try? Child.reap(-1, options: WNOHANG)) ?? nil {
            if pid == containerPid { found = status }
        }
        return found
    }

    private func protectFromOOMKiller() {
        do throws(Errno) {
            let fd = try FD(open: "/proc/self/oom_score_adj", O_RDWR)
            if let original = try? fd.readAll(limit: 64), !original.isEmpty {
                Child.originalOomScoreAdj = original
            }
            let value: [UInt8] = Array("-1000".utf8)
            let ok = value.withUnsafeBytes { pwrite(fd.raw, $0.baseAddress, $0.count, 0) } == value.count
            if !ok { ShimLog.warning("set oom_score_adj -1000: \(Errno.current), going on") }
        } catch {
            ShimLog.warning("open oom_score_adj: \(error)")
        }
    }

    private func openIsuladFifos(_ loop: IOLoop, tty: Bool) throws(ShimError) {
        for (stream, path) in [state.isuladStdout, state.isuladStderr].enumerated() {
            guard let path else { continue }
            var raw = cs_open(path, O_WRONLY | O_NONBLOCK, 0)
            // No reader yet: keep our own read side so output waits in the FIFO.
            if raw < 0 && cs_errno() == ENXIO { raw = cs_open(path, O_RDWR | O_NONBLOCK, 0) }
            guard raw >= 0 else { throw ShimError("open \(path): \(Errno.current)") }
            let fd = FD(adopting: raw)
            guard fd.isFIFO else { throw ShimError("\(path) is not a FIFO") }
            loop.fifoOut[stream] = fd.release()
        }
        if let path = state.isuladStdin {
            let raw = cs_open(path, O_RDONLY | O_NONBLOCK, 0)
            guard raw >= 0 else { throw ShimError("open \(path): \(Errno.current)") }
            let fd = FD(adopting: raw)
            guard fd.isFIFO else { throw ShimError("\(path) is not a FIFO") }
            do throws(Errno) { try loop.watchStdin(fifo: fd) } catch { throw ShimError("watch stdin: \(error)") }
        }
        if tty, let path = state.resizeFifo {
            let raw = cs_open(path, O_RDWR | O_NONBLOCK, 0)
            guard raw >= 0 else { throw ShimError("open \(path): \(Errno.current)") }
            do throws(Errno) { try loop.watchResize(fifo: FD(adopting: raw)) } catch { throw ShimError("watch resize: \(error)") }
        }
    }

    /// Pipes for the container's stdio: the child ends go to the runtime
    /// (runc passes them to the container), ours stay in the loop.
    private func makePipes(_ loop: IOLoop, childFDs: inout [Int32]) throws(ShimError) {
        var fds: [Int32] = [-1, -1]
        if state.openStdin || state.isuladStdin.map({ _ in true }) ?? false {
            guard cs_pipe2(&fds) == 0 else { throw ShimError("pipe: \(Errno.current)") }
            childFDs[0] = fds[0]
            loop.containerIn = fds[1]
            _ = cs_set_nonblock(fds[1])
        }
        for stream in 0..<2 {
            guard cs_pipe2(&fds) == 0 else { throw ShimError("pipe: \(Errno.current)") }
            childFDs[stream + 1] = fds[1]
            let read = FD(adopting: fds[0])
            read.setNonBlocking()
            do throws(Errno) { try loop.watchOutput(stream: stream, fd: read) } catch {
                throw ShimError("watch output: \(error)")
            }
        }
    }

    /// Accepts runc's console connection, unless the runtime exits first.
    private func waitForConsole(_ console: borrowing UnixListener, runtimePid: pid_t) -> FD? {
        let pidfd = cs_pidfd_open(runtimePid)
        let pin: FD? = pidfd >= 0 ? FD(adopting: pidfd) : nil
        defer { _ = pin }
        while true {
            var pfds = [pollfd(fd: console.fd.raw, events: Int16(POLLIN), revents: 0),
                        pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)]
            let r = (try? sys32 { poll(&pfds, 2, -1) }) ?? -1
            if r <= 0 { return nil }
            if pfds[0].revents != 0 {
                do throws(ShimError) { return try ConsoleSocket.receiveMaster(console) } catch {
                    ShimLog.error(error.message)
                    return nil
                }
            }
            if pfds[1].revents != 0 { return nil }
        }
    }

    private func readPidFile() -> pid_t? {
        guard let fd = try? FD(open: workDir + "/pid", O_RDONLY | O_NOFOLLOW),
              let bytes = try? fd.readAll(limit: 64) else { return nil }
        guard let first = bytes.split(whereSeparator: { $0 == 0x0a || $0 == 0x20 }).first,
              let pid = parseDecimal(first), pid > 0, pid <= UInt64(Int32.max) else { return nil }
        return pid_t(pid)
    }

    /// The runtime failed: its log.json errors go to stderr (iSulad shows
    /// them), anything it left is deleted, exit 1.
    private func runtimeFailed(_ runtimePid: pid_t, reason: String?) -> Int32 {
        if runtimePid > 0 { _ = Child.wait(runtimePid, timeoutMs: 10_000) }
        var message = runtimeLogErrors()
        if message.isEmpty { message = reason ?? "\(runtimeCommand) \(state.exec ? "exec" : "create") failed" }
        if !state.exec { _ = Child.run(controlArgs(["delete", "--force", id])) }
        _ = reap(containerPid: -1)
        return fail(message)
    }

    private func runtimeLogErrors() -> String {
        guard let fd = try? FD(open: workDir + "/log.json", O_RDONLY | O_NOFOLLOW) else { return "" }
        let size = lseek(fd.raw, 0, SEEK_END)
        _ = lseek(fd.raw, max(0, size - 65536), SEEK_SET)
        guard let bytes = try? fd.readAll(limit: 65536) else { return "" }
        var messages: [String] = []
        for line in bytes.split(separator: 0x0a) {
            guard let doc = try? JSON.parse(Array(line)),
                  let level = doc["level"]?.stringValue, level.utf8.elementsEqual("error".utf8),
                  let msg = doc["msg"]?.stringValue else { continue }
            messages.append(msg)
        }
        return messages.suffix(3).joined(separator: "; ")
    }
}

func lastComponent(_ path: String) -> String {
    let parts = path.utf8.split(separator: UInt8(ascii: "/"))
    guard let last = parts.last else { return "runc" }
    return String(decoding: last, as: UTF8.self)
}

/// Logs and prints an error, returns the failure exit code.
func fail(_ message: String) -> Int32 {
    ShimLog.error(message)
    printError("isulad-shim: " + message)
    return ShimExit.failure
}
