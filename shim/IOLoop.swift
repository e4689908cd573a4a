import CShim

/// The shim's single event loop: container output to the isulad FIFOs, the
/// json-file log and attached clients; isulad's (and clients') stdin to the
/// container; window sizes to the pty; signals (SIGCHLD to reaping; SIGTERM,
/// SIGHUP, SIGINT logged and ignored) through a signalfd. One thread, one
/// epoll set. The loop owns every fd registered with it (raw fds here,
/// closed by `closeFD` or at deinit).
final class IOLoop {
    enum Tag: UInt64 { case signal = 0, stdout, stderr, stdin, resize, stdinWritable, attachListener }
    /// Attach clients: tag = clientTagBase + slot * 4 + (0 stdin, 1 stdout, 2 stderr).
    static let clientTagBase: UInt64 = 64

    let epoll: Epoll
    let signals: Int32
    /// Container output (pipe read ends, or the pty master as stdout).
    var output: [Int32] = [-1, -1]
    var outputOpen = [false, false]
    /// isuladStdout / isuladStderr.
    var fifoOut: [Int32] = [-1, -1]
    var stdinFifo: Int32 = -1
    /// Where stdin goes: the stdin pipe or the pty master.
    var containerIn: Int32 = -1
    var containerInIsPipe = true
    /// Stdin the container has not taken yet. While it is not empty no stdin
    /// source is read (back-pressure), and the container side is watched
    /// for room instead.
    var stdinBacklog: [UInt8] = []
    /// The stdin FIFO reached EOF while a backlog was pending: close the
    /// container's stdin once the backlog is written.
    var stdinEOFPending = false
    var resizeFifo: Int32 = -1
    var pty: Int32 = -1
    var log: JSONFileLog? = nil
    var attach: AttachServer? = nil
    /// Not zero-filled: its pages are only touched once output flows, so
    /// an idle container's shim does not carry them.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
    var events = [epoll_event](repeating: epoll_event(), count: 8)

    init(signals: consuming FD) throws(Errno) {
        epoll = try Epoll()
        self.signals = signals.release()
        try epoll.add(self.signals, events: Epoll.input, tag: Tag.signal.rawValue)
    }

    deinit {
        for fd in [signals, output[0], output[1], fifoOut[0], fifoOut[1], stdinFifo, resizeFifo] where fd >= 0 {
            _ = close(fd)
        }
        if containerInIsPipe && containerIn >= 0 { _ = close(containerIn) }
        buffer.deallocate()
    }

    func closeFD(_ fd: inout Int32) {
        guard fd >= 0 else { return }
        epoll.remove(fd)
        _ = close(fd)
        fd = -1
    }

    func watchOutput(stream: Int, fd: consuming FD) throws(Errno) {
        let raw = fd.release()
        output[stream] = raw
        outputOpen[stream] = true
        try epoll.add(raw, events: Epoll.input, tag: stream == 0 ? Tag.stdout.rawValue : Tag.stderr.rawValue)
    }

    func watchStdin(fifo: consuming FD) throws(Errno) {
        stdinFifo = fifo.release()
        try epoll.add(stdinFifo, events: Epoll.input, tag: Tag.stdin.rawValue)
    }

    func watchResize(fifo: consuming FD) throws(Errno) {
        resizeFifo = fifo.release()
        try epoll.add(resizeFifo, events: Epoll.input, tag: Tag.resize.rawValue)
    }

    var outputDone: Bool { !outputOpen[0] && !outputOpen[1] }

    /// One round: waits up to timeoutMs, handles what is ready. Returns true
    /// when SIGCHLD arrived (the caller reaps).
    func runOnce(timeoutMs: Int32) -> Bool {
        let n: Int
        do throws(Errno) { n = try epoll.wait(into: &events, timeoutMs: timeoutMs) } catch {
            ShimLog.error("epoll_wait: \(error)")
            return true
        }
        var childEvent = false
        for i in 0..<n {
            let ev = events[i]
            let tag = ev.data.u64
            if tag >= Self.clientTagBase {
                attach?.handle(self, tag: tag - Self.clientTagBase, events: ev.events)
                continue
            }
            if ev.events & Epoll.output != 0 && tag == Tag.stdout.rawValue {
                // The pty master doubles as stdin: room to write the backlog.
                flushStdinBacklog()
            }
            switch Tag(rawValue: tag) {
            case .signal: if handleSignals() { childEvent = true }
            case .stdout: copyOutput(0)
            case .stderr: copyOutput(1)
            case .stdin: copyStdin()
            case .resize: applyResize()
            case .stdinWritable: flushStdinBacklog()
            case .attachListener: attach?.accept(self)
            case nil: break
            }
        }
        return childEvent
    }

    /// True when SIGCHLD was among the signals read.
    private func handleSignals() -> Bool {
        var child = false
        while true {
            let sig = cs_signalfd_read(signals)
            if sig <= 0 { return child }
            switch sig {
            case SIGCHLD: child = true
            case SIGTERM: ShimLog.warning("received SIGTERM: ignored, the shim stays until the container exits")
            case SIGHUP: ShimLog.warning("received SIGHUP: ignored, the shim stays until the container exits")
            case SIGINT: ShimLog.warning("received SIGINT: ignored, the shim stays until the container exits")
            default: ShimLog.debug("received signal \(sig)")
            }
        }
    }

    /// Reads what is there from every open output (used while draining).
    func drainOutputs() {
        for s in 0..<2 where outputOpen[s] { copyOutput(s) }
    }

    private func copyOutput(_ stream: Int) {
        let fd = output[stream]
        guard fd >= 0, outputOpen[stream] else { return }
        let n: Int
        do throws(Errno) {
            n = try FDIO.read(fd, into: buffer)
        } catch {
            if error == .wouldBlock { return }
            n = 0 // EIO from a pty whose slave side is gone: end of output.
        }
        if n == 0 {
            // The fd stays open until exit: closing a pty master would
            // SIGHUP the container.
            outputOpen[stream] = false
            epoll.remove(fd)
            log?.flush()
            attach?.outputEnded(self, stream: stream)
            return
        }
        do {
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            log?.append(stream: stream, chunk)
            if fifoOut[stream] >= 0 {
                do throws(Errno) { try FDIO.writeAll(fifoOut[stream], chunk) } catch {
                    if error == .wouldBlock {
                        ShimLog.debug("isulad fifo full, output dropped")
                    } else {
                        ShimLog.warning("write isulad fifo: \(error)")
                        _ = close(fifoOut[stream])
                        fifoOut[stream] = -1
                    }
                }
            }
            attach?.broadcast(self, stream: stream, chunk)
        }
    }

    private func copyStdin() {
        guard stdinBacklog.isEmpty, stdinFifo >= 0 else { return }
        let fd = stdinFifo
        let n: Int
        do throws(Errno) {
            n = try FDIO.read(fd, into: buffer)
        } catch {
            if error == .wouldBlock { return }
            n = 0
        }
        if n == 0 {
            // The writer went away: the container sees end of input.
            closeFD(&stdinFifo)
            closeContainerStdin()
            return
        }
        _ = writeStdin(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }

    /// Passes stdin bytes to the container; what does not fit becomes the
    /// backlog. False when there is no container stdin (any more).
    func writeStdin(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard containerIn >= 0 else { return false }
        guard stdinBacklog.isEmpty else {
            stdinBacklog.append(contentsOf: bytes)
            return true
        }
        do throws(Errno) {
            let written = try FDIO.writeSome(containerIn, bytes)
            if written < bytes.count {
                stdinBacklog = Array(bytes[written...])
                waitForStdinRoom(true)
            }
            return true
        } catch {
            ShimLog.warning("write container stdin: \(error)")
            dropContainerStdin()
            return false
        }
    }

    /// Writes the backlog; when it is gone, reads the stdin sources again.
    private func flushStdinBacklog() {
        guard !stdinBacklog.isEmpty, containerIn >= 0 else { return }
        do throws(Errno) {
            let written = try FDIO.writeSome(containerIn, stdinBacklog)
            stdinBacklog.removeFirst(written)
        } catch {
            ShimLog.warning("write container stdin: \(error)")
            dropContainerStdin()
            return
        }
        guard stdinBacklog.isEmpty else { return }
        waitForStdinRoom(false)
        if stdinEOFPending { closeContainerStdin() }
    }

    var stdinBlocked: Bool { !stdinBacklog.isEmpty }

    /// Switches between reading the stdin sources and waiting for the
    /// container side to accept more.
    private func waitForStdinRoom(_ waiting: Bool) {
        if stdinFifo >= 0 {
            // Out of the set while waiting: a hang-up is reported even with
            // no events asked for, and would spin the loop.
            if waiting { epoll.remove(stdinFifo) } else { try? epoll.add(stdinFifo, events: Epoll.input, tag: Tag.stdin.rawValue) }
        }
        attach?.pauseStdin(self, waiting)
        if containerIn == output[0] && outputOpen[0] {
            try? epoll.modify(containerIn, events: waiting ? Epoll.input | Epoll.output : Epoll.input, tag: Tag.stdout.rawValue)
        } else if waiting {
            try? epoll.add(containerIn, events: Epoll.output, tag: Tag.stdinWritable.rawValue)
        } else {
            epoll.remove(containerIn)
        }
    }

    private func closeContainerStdin() {
        guard stdinBacklog.isEmpty else {
            stdinEOFPending = true
            return
        }
        if containerInIsPipe && containerIn >= 0 { _ = close(containerIn); containerIn = -1 }
    }

    private func dropContainerStdin() {
        if !stdinBacklog.isEmpty { waitForStdinRoom(false) }
        stdinBacklog.removeAll()
        if containerInIsPipe && containerIn >= 0 { _ = close(containerIn) }
        containerIn = -1
    }

    /// "<width> <height>" per write, as iSulad sends it.
    private func applyResize() {
        let fd = resizeFifo
        var n = 0
        do throws(Errno) {
            n = try FDIO.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(buffer.count - 1)]))
        } catch {
            if error == .wouldBlock { return }
        }
        if n == 0 {
            closeFD(&resizeFifo)
            return
        }
        let text = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        let parts = text.split(whereSeparator: { $0 == 0x20 || $0 == 0x0a || $0 == 0 })
        guard parts.count == 2, let w = parseDecimal(parts[0]), let h = parseDecimal(parts[1]),
              w <= 65535, h <= 65535, pty >= 0 else {
            ShimLog.warning("bad window size: \(String(decoding: text, as: UTF8.self))")
            return
        }
        if cs_set_winsize(pty, UInt16(w), UInt16(h)) != 0 {
            ShimLog.warning("TIOCSWINSZ: \(Errno.current)")
        }
    }
}
