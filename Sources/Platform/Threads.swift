import CPlatform
import Glibc
import SystemPackage

/// A pthread mutex with a condition variable on CLOCK_MONOTONIC, for the
/// few places that must sleep until a state change or a deadline (worker
/// queue, collector, persister). `Mutex` from Synchronization has no wait.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        cond = makeMonotonicCondition()
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Caller holds the lock. Spurious wake-ups possible: re-check the predicate.
    public func wait() { pthread_cond_wait(cond, mutex) }

    /// Caller holds the lock. Returns false when the deadline passed.
    @discardableResult
    public func wait(untilNs deadline: Int64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex, &ts) != ETIMEDOUT
    }

    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    fileprivate var rawMutex: UnsafeMutablePointer<pthread_mutex_t> { mutex }
}

/// A value behind a pthread mutex, with `Mutex`'s `withLock` shape. For
/// state taken on every exit: Synchronization's Mutex contends through
/// priority-inheritance futexes on Linux, and ThreadSanitizer cannot see
/// its (uninstrumented) lock, so it reports the accesses it guards.
public final class PthreadLocked<Value>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// A condition variable whose timed waits use CLOCK_MONOTONIC.
private func makeMonotonicCondition() -> UnsafeMutablePointer<pthread_cond_t> {
    let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    var attr = pthread_condattr_t()
    pthread_condattr_init(&attr)
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
    pthread_cond_init(cond, &attr)
    pthread_condattr_destroy(&attr)
    return cond
}

/// A second condition variable on a `ConditionLock`'s mutex (CLOCK_MONOTONIC),
/// so that threads waiting for different things are woken separately.
public final class Condition: @unchecked Sendable {
    private let lock: ConditionLock
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init(on lock: ConditionLock) {
        self.lock = lock
        cond = makeMonotonicCondition()
    }

    deinit {
        pthread_cond_destroy(cond)
        cond.deallocate()
    }

    /// Caller holds the lock. Spurious wake-ups possible: re-check the predicate.
    public func wait() { pthread_cond_wait(cond, lock.rawMutex) }

    /// Caller holds the lock. Returns false when the deadline passed.
    @discardableResult
    public func wait(untilNs deadline: Int64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(cond, lock.rawMutex, &ts) != ETIMEDOUT
    }

    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }
}

/// A joinable pthread running a closure with every signal blocked, so a host
/// engine's signal handling never lands on library threads.
public final class NativeThread: @unchecked Sendable {
    private var handle: pthread_t
    private var joined = false

    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }

    private init(handle: pthread_t) { self.handle = handle }

    /// Set on every thread started here (workers, epoll, GC, log): a hook
    /// running on one must not join the library from it (EDEADLK), nor wait
    /// for a shutdown that is draining it (ESHUTDOWN).
    public static let isLibraryThread = ThreadFlag()

    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(Errno) -> NativeThread {
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var all = sigset_t(), old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.name.withCString { cp_set_thread_name($0) }
            NativeThread.isLibraryThread.set(true)
            box.body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw Errno(rawValue: rc)
        }
        return NativeThread(handle: tid)
    }

    /// Joins once; later calls return at once.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }

    public var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }
}

/// A per-thread boolean (pthread key), e.g. "this is a library worker".
public final class ThreadFlag: @unchecked Sendable {
    private var key = pthread_key_t()

    public init() { pthread_key_create(&key, nil) }

    public var isSet: Bool { pthread_getspecific(key) != nil }

    public func set(_ on: Bool) {
        pthread_setspecific(key, on ? UnsafeRawPointer(bitPattern: 1) : nil)
    }
}
