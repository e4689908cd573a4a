import Glibc
import Platform
@testable import Cleaner

/// Scratch space for one test: a fresh directory under /tmp, removed with
/// whatever is left (unmounting first) when the test ends.
final class Scratch {
    let path: String

    init(_ label: String) {
        var template = Array("/tmp/cleaner-\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made.map { String(cString: $0) } ?? "/tmp/cleaner-\(label)-\(getpid())"
    }

    deinit {
        for m in ((try? MountInfo.read()) ?? []).reversed() where m.mountPoint.hasPrefix(path + "/") {
            umount2(m.mountPoint, Int32(MNT_DETACH))
        }
        Spawn.runQuietly(["rm", "-rf", "--one-file-system", path], timeoutMs: 10_000)
    }

    func sub(_ name: String) -> String { path + "/" + name }
}

extension Spawn {
    @discardableResult
    static func runQuietly(_ argv: [String], timeoutMs: Int) -> Bool {
        (try? run(argv, timeoutMs: timeoutMs, outputLimit: 4096, environment: nil))?.status == .exited(0)
    }
}

func makeDir(_ path: String) -> Bool { mkdir(path, 0o755) == 0 || errno == EEXIST }

func writeFile(_ path: String, _ text: String = "data") -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == text.utf8.count
}

func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

func mountCount(at path: String) -> Int {
    ((try? MountInfo.read()) ?? []).filter { $0.mountPoint == path }.count
}

func mountTmpfs(_ path: String) -> Bool { mount("tmpfs", path, "tmpfs", 0, nil) == 0 }

/// umount2(path, 0), retried while EBUSY for up to 2 s: suites run in
/// parallel, and a child another test spawns holds copies of this process's
/// fds (a directory the cleaner just had open) until its exec closes them.
func unmount(_ path: String) -> Bool {
    let deadline = MonotonicClock.nowNs() + 2_000_000_000
    while umount2(path, 0) != 0 {
        guard errno == EBUSY, MonotonicClock.nowNs() < deadline else { return false }
        usleep(1_000)
    }
    return true
}

func bindMount(_ source: String, _ target: String) -> Bool {
    mount(source, target, nil, UInt(MS_BIND), nil) == 0
}

/// A `sleep` child whose working directory is `cwd` (posix_spawn returns
/// after the child's chdir and exec, so it holds `cwd` from then on).
func spawnSleeper(cwd: String? = nil) throws -> pid_t {
    try Spawn.start(SpawnOptions(argv: ["/bin/sleep", "1000"], workingDirectory: cwd))
}

/// Kills (if still running) and reaps a child: waitpid is the event.
@discardableResult
func reap(_ pid: pid_t, kill sig: Int32? = SIGKILL) -> ChildStatus? {
    if let sig { kill(pid, sig) }
    return try? Spawn.wait(pid)
}

/// Open fds of this process that name something under `prefix` (tests run
/// in parallel, so a process-wide count would see other tests' fds).
func openFDCount(under prefix: String) -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var n = 0
    while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        var target = [CChar](repeating: 0, count: 4096)
        let len = readlink("/proc/self/fd/" + name, &target, target.count - 1)
        if len > 0 && String(cString: target).hasPrefix(prefix) { n += 1 }
    }
    return n
}

func context(_ id: String = "c1", runtime: String = "runc", detachAfter: Int = 5) -> CleanContext {
    CleanContext(id: id, runtime: runtime, mountDetachAfter: detachAfter, runtimeTimeoutMs: 20_000)
}

func release(_ cleaner: BuiltinCleaner, _ kind: ResourceKind, _ value: String, _ ctx: CleanContext = context()) -> CleanOutcome {
    var r = TrackedResource(kind: kind, value: value)
    return cleaner.release(&r, context: ctx)
}

extension CleanOutcome {
    var isRetry: Bool { if case .retry = self { return true }; return false }
    var isBlocked: Bool { if case .blocked = self { return true }; return false }
}

func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}
