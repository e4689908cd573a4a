import CPlatform
import Glibc
import Platform
import SystemPackage

/// SIGCHLD handler → one byte into a non-blocking pipe the loop watches.
nonisolated(unsafe) var childWakeFD: Int32 = -1

/// The shim's single event loop: container output to the isulad FIFOs and
/// the json-file log, isulad's stdin to the container, window sizes to the
/// pty, SIGCHLD to reaping. One thread, one epoll set.
struct IOLoop {
    enum Tag: UInt64 { case wake = 0, stdout, stderr, stdin, resize, stdinWritable }

    let epoll: Epoll
    let wakeRead: Int32
    /// Container output (pipe read ends or the pty master as stdout).
    var output: [Int32] = [-1, -1]
    var outputOpen = [false, false]
    /// isuladStdout / isuladStderr.
    var fifoOut: [Int32] = [-1, -1]
    var stdinFifo: Int32 = -1
    /// Where isulad's stdin goes: the stdin pipe or the pty master.
    var containerIn: Int32 = -1
    var containerInIsPipe = true
    /// isulad's stdin the container has not taken yet. While it is not empty
    /// the stdin FIFO is not read (back-pressure to the engine), and the
    /// container side is watched for room instead.
    var stdinBacklog: [UInt8] = []
    /// The stdin FIFO reached EOF while a backlog was pending: close the
    /// container's stdin once the backlog is written.
    var stdinEOFPending = false
    var resizeFifo: Int32 = -1
    var pty: Int32 = -1
    var log: JSONFileLog?
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    var events = [epoll_event](repeating: epoll_event(), count: 8)

    init() throws(Errno) {
        epoll = try Epoll()
        var fds: [Int32] = [-1, -1]
        guard cp_pipe2(&fds, O_CLOEXEC | O_NONBLOCK) == 0 else { throw Errno(rawValue: cp_errno()) }
        wakeRead = fds[0]
        childWakeFD = fds[1]
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { _ in
            var b: UInt8 = 1
            let saved = errno
            _ = write(childWakeFD, &b, 1)
            errno = saved
        }
        sa.sa_flags = SA_RESTART | SA_NOCLDSTOP
        sigemptyset(&sa.sa_mask)
        guard sigaction(SIGCHLD, &sa, nil) == 0 else { throw Errno(rawValue: cp_errno()) }
        try epoll.add(wakeRead, events: .input, data: Tag.wake.rawValue)
    }

    mutating func watchOutput(stream: Int, fd: Int32) throws(Errno) {
        output[stream] = fd
        outputOpen[stream] = true
        try epoll.add(fd, events: .input, data: stream == 0 ? Tag.stdout.rawValue : Tag.stderr.rawValue)
    }

    mutating func watchStdin(fifo: Int32) throws(Errno) {
        stdinFifo = fifo
        try epoll.add(fifo, events: .input, data: Tag.stdin.rawValue)
    }

    mutating func watchResize(fifo: Int32) throws(Errno) {
        resizeFifo = fifo
        try epoll.add(fifo, events: .input, data: Tag.resize.rawValue)
    }

    var outputDone: Bool { !outputOpen[0] && !outputOpen[1] }

    /// One round: waits up to timeoutMs, handles what is ready. Returns true
    /// when SIGCHLD arrived (the caller reaps).
    mutating func runOnce(timeoutMs: Int32) -> Bool {
        let n: Int
        do throws(Errno) { n = try epoll.wait(into: &events, timeoutMs: timeoutMs) } catch {
            ShimLog.error("epoll_wait: \(error)")
            return true
        }
        var childEvent = false
        for i in 0..<n {
            let ev = events[i]
            if ev.events & EPOLLOUT.rawValue != 0 && Tag(rawValue: ev.data.u64) == .stdout {
                // The pty master doubles as stdin: room to write the backlog.
                flushStdinBacklog()
            }
            switch Tag(rawValue: ev.data.u64) {
            case .wake:
                var sink = [UInt8](repeating: 0, count: 64)
                while sink.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
                childEvent = true
            case .stdout: copyOutput(0)
            case .stderr: copyOutput(1)
            case .stdin: copyStdin()
            case .resize: applyResize()
            case .stdinWritable: flushStdinBacklog()
            case nil: break
            }
        }
        return childEvent
    }

    /// Reads what is there from every open output (used while draining).
    mutating func drainOutputs() {
        for s in 0..<2 where outputOpen[s] { copyOutput(s) }
    }

    private mutating func copyOutput(_ stream: Int) {
        let fd = output[stream]
        guard fd >= 0, outputOpen[stream] else { return }
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && (cp_errno() == EINTR || cp_errno() == EAGAIN) { return }
        if n <= 0 {
            // EOF, or EIO from a pty whose slave side is gone. The fd stays
            // open until exit: closing a pty master would SIGHUP the container.
            outputOpen[stream] = false
            try? epoll.remove(fd)
            log?.flush()
            return
        }
        buffer.withUnsafeBytes { p in
            let chunk = UnsafeRawBufferPointer(rebasing: p[0..<n])
            log?.append(stream: stream, chunk)
            if fifoOut[stream] >= 0 {
                do throws(Errno) { try FileIO.writeAll(fifoOut[stream], chunk) } catch {
                    if error == .resourceTemporarilyUnavailable {
                        ShimLog.debug("isulad fifo full, output dropped")
                    } else {
                        ShimLog.warning("write isulad fifo: \(error)")
                        close(fifoOut[stream])
                        fifoOut[stream] = -1
                    }
                }
            }
        }
    }

    private mutating func copyStdin() {
        guard stdinBacklog.isEmpty else { return }
        let n = buffer.withUnsafeMutableBytes { read(stdinFifo, $0.baseAddress, $0.count) }
        if n < 0 && (cp_errno() == EINTR || cp_errno() == EAGAIN) { return }
        if n <= 0 {
            // The writer went away: the container sees end of input.
            try? epoll.remove(stdinFifo)
            close(stdinFifo)
            stdinFifo = -1
            closeContainerStdin()
            return
        }
        guard containerIn >= 0 else { return }
        let written = writeSome(containerIn, buffer, 0..<n)
        if written < 0 {
            ShimLog.warning("write container stdin: \(Errno(rawValue: cp_errno()))")
            dropContainerStdin()
        } else if written < n {
            stdinBacklog = Array(buffer[written..<n])
            waitForStdinRoom(true)
        }
    }

    /// Writes the backlog; when it is gone, reads the stdin FIFO again.
    private mutating func flushStdinBacklog() {
        guard !stdinBacklog.isEmpty, containerIn >= 0 else { return }
        let written = writeSome(containerIn, stdinBacklog, 0..<stdinBacklog.count)
        if written < 0 {
            ShimLog.warning("write container stdin: \(Errno(rawValue: cp_errno()))")
            dropContainerStdin()
            return
        }
        stdinBacklog.removeFirst(written)
        guard stdinBacklog.isEmpty else { return }
        waitForStdinRoom(false)
        if stdinEOFPending { closeContainerStdin() }
    }

    /// Switches between reading the stdin FIFO and waiting for the container
    /// side to accept more.
    private mutating func waitForStdinRoom(_ waiting: Bool) {
        if stdinFifo >= 0 {
            // Out of the set while waiting: a hang-up is reported even with
            // no events asked for, and would spin the loop.
            if waiting {
                try? epoll.remove(stdinFifo)
            } else {
                try? epoll.add(stdinFifo, events: .input, data: Tag.stdin.rawValue)
            }
        }
        if containerIn == output[0] && outputOpen[0] {
            try? epoll.modify(containerIn, events: waiting ? [.input, .output] : .input, data: Tag.stdout.rawValue)
        } else if waiting {
            try? epoll.add(containerIn, events: .output, data: Tag.stdinWritable.rawValue)
        } else {
            try? epoll.remove(containerIn)
        }
    }

    private mutating func closeContainerStdin() {
        guard stdinBacklog.isEmpty else {
            stdinEOFPending = true
            return
        }
        if containerInIsPipe && containerIn >= 0 { close(containerIn); containerIn = -1 }
    }

    private mutating func dropContainerStdin() {
        if !stdinBacklog.isEmpty { waitForStdinRoom(false) }
        stdinBacklog.removeAll()
        if containerInIsPipe { close(containerIn) }
        containerIn = -1
    }

    /// Writes what fits without blocking: bytes written (possibly fewer than
    /// asked when the other side is full), or -1 on a real error.
    private func writeSome(_ fd: Int32, _ bytes: [UInt8], _ range: Range<Int>) -> Int {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, range.upperBound - offset) }
            if n > 0 { offset += n; continue }
            if n < 0 && cp_errno() == EINTR { continue }
            if n < 0 && cp_errno() == EAGAIN { break }
            return -1
        }
        return offset - range.lowerBound
    }

    /// "<width> <height>" per write, as iSulad sends it.
    private mutating func applyResize() {
        let n = buffer.withUnsafeMutableBytes { read(resizeFifo, $0.baseAddress, $0.count - 1) }
        if n < 0 && (cp_errno() == EINTR || cp_errno() == EAGAIN) { return }
        if n <= 0 {
            try? epoll.remove(resizeFifo)
            close(resizeFifo)
            resizeFifo = -1
            return
        }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\0" })
        guard parts.count == 2, let w = UInt16(parts[0]), let h = UInt16(parts[1]), pty >= 0 else {
            ShimLog.warning("bad window size: \(text)")
            return
        }
        var ws = winsize(ws_row: h, ws_col: w, ws_xpixel: 0, ws_ypixel: 0)
        if ioctl(pty, UInt(TIOCSWINSZ), &ws) != 0 {
            ShimLog.warning("TIOCSWINSZ: \(Errno(rawValue: cp_errno()))")
        }
    }
}
