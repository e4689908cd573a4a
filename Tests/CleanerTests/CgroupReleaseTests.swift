import Glibc
import Platform
import Testing
@testable import Cleaner

@Suite(.serialized) struct CgroupReleaseTests {
    static let memory = "/sys/fs/cgroup/memory"
    static let unified = "/sys/fs/cgroup/unified"

    /// Moves `pid` into `dir` (a cgroup directory).
    func enter(_ pid: pid_t, _ dir: String) -> Bool {
        (try? KernelFile.write(dir + "/cgroup.procs", "\(pid)")) != nil
    }

    func members(_ dir: String) -> [String] {
        guard let b = try? KernelFile.read(dir + "/cgroup.procs") else { return [] }
        return String(decoding: b, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func check(hierarchy root: String) throws {
        let name = uniqueName("cleaner-test")
        #expect(makeDir("\(root)/\(name)") && makeDir("\(root)/\(name)/a") && makeDir("\(root)/\(name)/a/b"))
        let child = try spawnSleeper()
        defer { reap(child) }
        #expect(enter(child, "\(root)/\(name)/a/b"))
        #expect(members("\(root)/\(name)/a/b") == ["\(child)"])
        #expect(release(BuiltinCleaner(), .cgroup, name) == .released)
        #expect(!exists("\(root)/\(name)"))
        #expect(reap(child, kill: nil) == .signaled(SIGKILL))
    }

    @Test func v1MemoryCgroupIsEmptiedAndRemoved() throws { try check(hierarchy: Self.memory) }

    @Test func v2CgroupIsEmptiedAndRemoved() throws { try check(hierarchy: Self.unified) }

    @Test func aProcessInV1AndV2AndTheFreezerIsKilledAndAllAreRemoved() throws {
        let name = uniqueName("cleaner-test") + "/nested"
        let roots = [Self.memory, Self.unified, "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/pids"]
        for r in roots { #expect(makeDir(r + "/" + (name.split(separator: "/").first.map(String.init) ?? "")) && makeDir(r + "/" + name)) }
        let child = try spawnSleeper()
        defer { reap(child) }
        for r in roots { #expect(enter(child, r + "/" + name)) }
        #expect(release(BuiltinCleaner(), .cgroup, name) == .released)
        for r in roots {
            #expect(!exists(r + "/" + name))
            #expect(exists(r + "/" + (name.split(separator: "/").first.map(String.init) ?? "")))  // parent kept
            rmdir(r + "/" + (name.split(separator: "/").first.map(String.init) ?? ""))
        }
        #expect(reap(child, kill: nil) == .signaled(SIGKILL))
    }

    @Test func aForkingGroupIsEmptied() throws {
        let name = uniqueName("cleaner-fork")
        let dir = "\(Self.unified)/\(name)"
        #expect(makeDir(dir))
        // A shell that, once inside the cgroup (it waits for a line on stdin),
        // keeps starting children there: 500 at most, so it stays bounded.
        var gate: [Int32] = [-1, -1]
        #expect(pipe(&gate) == 0)
        let script = "read go; i=0; while [ $i -lt 500 ]; do sleep 1000 & i=$((i+1)); done; wait"
        let child = try Spawn.start(SpawnOptions(argv: ["/bin/sh", "-c", script], stdin: gate[0]))
        close(gate[0])
        defer { reap(child) }
        #expect(enter(child, dir))
        #expect(write(gate[1], "go\n", 3) == 3)
        close(gate[1])
        #expect(release(BuiltinCleaner(), .cgroup, name) == .released)
        #expect(!exists(dir))
    }

    @Test func aMissingCgroupIsReleased() {
        #expect(release(BuiltinCleaner(), .cgroup, uniqueName("never-created")) == .released)
    }
}
