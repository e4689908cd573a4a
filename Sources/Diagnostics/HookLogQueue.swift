import Glibc
import Platform

/// Delivers log lines to the engine's log hook from a thread of its own.
///
/// Lines are logged from wherever something happens — inside library locks,
/// on the epoll thread — and the engine's hook may call back into the
/// library (`gc_is_gc_progress`, `supervisor_status_json`), which would then
/// wait for a lock its own thread holds. Queuing makes the hook run on a
/// library thread with no library lock held. The thread sleeps while the
/// queue is empty and is stopped by `Log.flush()` (at shutdown).
final class HookLogQueue: @unchecked Sendable {
    typealias Emit = @Sendable (LogLevel, String) -> Void

    private let lock = ConditionLock()
    private var lines: [(Emit, LogLevel, String)] = []
    private var thread: NativeThread?
    private var stopping = false
    /// Bound on queued lines: a hook that stalls cannot grow memory forever.
    private static let capacity = 4096
    private var dropped = 0

    func enqueue(_ emit: @escaping Emit, _ level: LogLevel, _ text: String) {
        lock.lock()
        defer { lock.unlock() }
        if lines.count >= Self.capacity {
            dropped += 1
            return
        }
        lines.append((emit, level, text))
        if thread == nil {
            stopping = false
            thread = try? NativeThread.start(name: "supv-log") { [unowned self] in self.run() }
            if thread == nil {
                // No thread to be had: deliver here rather than lose the line.
                let pending = lines
                lines.removeAll()
                lock.unlock()
                for (e, l, t) in pending { e(l, t) }
                lock.lock()
                return
            }
        }
        lock.signal()
    }

    /// Delivers everything queued, then stops the thread.
    func flush() {
        let t: NativeThread? = lock.withLock {
            stopping = true
            lock.broadcast()
            return thread
        }
        t?.join()
        lock.withLock { thread = nil }
    }

    private func run() {
        lock.lock()
        while true {
            if lines.isEmpty {
                if stopping { break }
                lock.wait()
                continue
            }
            let batch = lines
            lines.removeAll(keepingCapacity: true)
            let lost = dropped
            dropped = 0
            lock.unlock()
            for (emit, level, text) in batch { emit(level, text) }
            if lost > 0, let last = batch.last {
                last.0(.warning, "\(lost) log lines dropped: the log hook did not keep up")
            }
            lock.lock()
        }
        lock.unlock()
    }
}
