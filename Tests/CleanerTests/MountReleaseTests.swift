import Glibc
import Platform
import Testing
@testable import Cleaner

@Suite(.serialized) struct MountReleaseTests {
    @Test func tmpfsIsUnmounted() throws {
        let s = Scratch("mnt")
        let m = s.sub("m")
        #expect(makeDir(m) && mountTmpfs(m))
        #expect(mountCount(at: m) == 1)
        #expect(release(BuiltinCleaner(), .mount, m) == .released)
        #expect(mountCount(at: m) == 0)
        // Released again: not mounted (EINVAL) is done.
        #expect(release(BuiltinCleaner(), .mount, m) == .released)
        #expect(release(BuiltinCleaner(), .mount, s.sub("missing")) == .released)
    }

    @Test func stackedMountsAndSubmountsAreAllUnmounted() throws {
        let s = Scratch("stack")
        let m = s.sub("m")
        #expect(makeDir(m) && mountTmpfs(m) && mountTmpfs(m) && mountTmpfs(m))
        #expect(makeDir(m + "/inner") && mountTmpfs(m + "/inner"))
        #expect(mountCount(at: m) == 3)
        #expect(release(BuiltinCleaner(), .mount, m) == .released)
        #expect(mountCount(at: m) == 0 && mountCount(at: m + "/inner") == 0)
    }

    @Test func busyMountRetriesUntilTheHolderIsGone() throws {
        let s = Scratch("busy")
        let m = s.sub("m")
        #expect(makeDir(m) && mountTmpfs(m))
        let child = try spawnSleeper(cwd: m)
        let cleaner = BuiltinCleaner()
        var r = TrackedResource(kind: .mount, value: m)
        let ctx = context(detachAfter: 100)
        #expect(cleaner.release(&r, context: ctx).isRetry)
        #expect(r.busyCount == 1)
        #expect(cleaner.release(&r, context: ctx).isRetry)
        #expect(r.busyCount == 2)
        #expect(mountCount(at: m) == 1)
        #expect(reap(child) == .signaled(SIGKILL))
        #expect(cleaner.release(&r, context: ctx) == .released)
        #expect(mountCount(at: m) == 0)
    }

    @Test func busyMountIsDetachedAfterN() throws {
        let s = Scratch("detach")
        let m = s.sub("m")
        #expect(makeDir(m) && mountTmpfs(m))
        let child = try spawnSleeper(cwd: m)
        defer { reap(child) }
        let cleaner = BuiltinCleaner()
        var r = TrackedResource(kind: .mount, value: m, busyCount: 1)  // one EBUSY from a previous run
        let ctx = context(detachAfter: 3)
        #expect(cleaner.release(&r, context: ctx).isRetry)
        #expect(r.busyCount == 2)
        #expect(mountCount(at: m) == 1)
        #expect(cleaner.release(&r, context: ctx) == .released)
        #expect(r.busyCount == 3)
        #expect(mountCount(at: m) == 0)
    }

    @Test func aDirectoryThatIsNotAMountKeepsTheMountsBelowIt() throws {
        let s = Scratch("notmnt")
        #expect(makeDir(s.sub("d")) && makeDir(s.sub("d/m")) && mountTmpfs(s.sub("d/m")))
        #expect(release(BuiltinCleaner(), .mount, s.sub("d")) == .released)
        #expect(mountCount(at: s.sub("d/m")) == 1)
        #expect(unmount(s.sub("d/m")))
    }

    @Test func symlinkToAMountIsNotFollowed() throws {
        let s = Scratch("mntlink")
        let m = s.sub("m")
        #expect(makeDir(m) && mountTmpfs(m))
        #expect(symlink(m, s.sub("link")) == 0)
        #expect(release(BuiltinCleaner(), .mount, s.sub("link")) == .released)
        #expect(mountCount(at: m) == 1)
        #expect(unmount(m))
    }

    @Test func withoutCapSysAdminItIsBlockedAndReportedOnce() {
        let cleaner = BuiltinCleaner(capabilities: Capabilities(effective: Capabilities.all.effective & ~(1 << 21)))
        let outcome = release(cleaner, .mount, "/tmp/never-mounted")
        #expect(outcome == .blocked("needs CAP_SYS_ADMIN to unmount /tmp/never-mounted"))
        // The first release logged it; the reason is not new any more.
        #expect(!cleaner.firstReport(of: "needs CAP_SYS_ADMIN to unmount /tmp/never-mounted"))
        #expect(cleaner.firstReport(of: "something else"))
    }
}
